# crm: build, run, test, bench.
#
# The kernel in app/ is split in two by one rule: files that include Kore's
# headers (KORE_SRCS) are linked only into the Kore module build/crm.so; every
# other file is Kore-free and goes into build/libcrm.a, which crm.so, crmctl,
# crm-worker and the unit tests all link.  Unit tests live beside the code
# they test as *_test.c.

CC	?= cc
BUILD	:= build
KORE_FEATURES := $(shell cat /usr/share/kore/features 2>/dev/null)

WARN	= -Wall -Wextra -Wmissing-prototypes -Wstrict-prototypes -Wshadow \
	  -Wpointer-arith -Wcast-qual -Wsign-compare -Wno-unused-parameter
CFLAGS	?= -O2 -g
CFLAGS	+= -std=gnu11 $(WARN) -Werror -fPIC -Iapp -Imodules/identity -I. -I/usr/include/postgresql \
	   -D_GNU_SOURCE
LIBS	= -lpq -lhiredis -ljansson -ljwt -largon2 -lcrypto -lssl -lm

# Files that talk to Kore (request pipeline, async PostgreSQL and Redis, the
# HTTP handlers of every module).  Everything else under app/ is Kore-free.
KORE_APP  := main pipe reply db rds ops metrics limit kdf engine tlsfix \
	     cfc idem openapi
KORE_SRCS := $(KORE_APP:%=app/%.c) \
	     $(filter-out %_test.c,$(wildcard modules/*.c modules/*/*.c))
ALL_SRCS  := $(filter-out %_test.c,$(wildcard app/*.c))
MAIN_SRCS := app/crmctl.c app/crm_worker.c
LIB_SRCS  := $(filter-out $(KORE_SRCS) $(MAIN_SRCS),$(ALL_SRCS))
TEST_SRCS := $(wildcard app/*_test.c) $(wildcard modules/*/*_test.c)

LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
KORE_OBJS := $(KORE_SRCS:%.c=$(BUILD)/k/%.o)
TESTS     := $(TEST_SRCS:%.c=$(BUILD)/%)
HDRS      := $(wildcard app/*.h) $(wildcard modules/*/*.h)

PYTHON	:= /usr/bin/python3

.PHONY: bench-deals bench-import all deps run stop test unit unit-valgrind bench clean fmt

# crm-worker joins the build with its source (the jobs issue).
WORKER	:= $(if $(wildcard app/crm_worker.c),$(BUILD)/crm-worker)

all: $(BUILD)/crm.so $(BUILD)/crmctl $(WORKER)

$(BUILD)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# Kore's feature flags change the size of struct http_request: the module
# must be compiled with exactly the flags Kore itself was built with.
$(BUILD)/k/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(KORE_FEATURES) -DCRM_KORE -c $< -o $@

$(BUILD)/libcrm.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/crm.so: $(KORE_OBJS) $(BUILD)/libcrm.a
	$(CC) -shared -o $@ $(KORE_OBJS) $(BUILD)/libcrm.a $(LIBS)

$(BUILD)/crmctl: $(BUILD)/app/crmctl.o $(BUILD)/libcrm.a
	$(CC) -o $@ $^ $(LIBS)

# Only the worker sends HTTP (webhooks): libcurl is linked here alone.
$(BUILD)/crm-worker: $(BUILD)/app/crm_worker.o $(BUILD)/libcrm.a
	$(CC) -o $@ $^ $(LIBS) -lcurl

$(BUILD)/%_test: %_test.c $(BUILD)/libcrm.a $(HDRS) tests/unit/ut.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libcrm.a $(LIBS)

deps:
	@deploy/local/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@deploy/local/run.sh start

stop:
	@deploy/local/run.sh stop

unit: $(TESTS)
	@tests/unit/run.sh $(TESTS)

unit-valgrind: $(TESTS)
	@UT_VALGRIND=1 tests/unit/run.sh $(TESTS)

test: deps
	@$(MAKE) --no-print-directory all $(TESTS)
	@tests/run.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@bench/run.sh

# The CRM benchmark on 1,000 tenants / 5,000,000 records (bench/deals.sh;
# BENCH_TENANTS and BENCH_SCALE make it smaller).
bench-deals: deps
	@$(MAKE) --no-print-directory all
	@bench/deals.sh

# The CSV import benchmark: 1,000,000 contacts (bench/import.sh;
# BENCH_IMPORT_ROWS makes it smaller).
bench-import: deps
	@$(MAKE) --no-print-directory all
	@bench/import.sh

fmt:
	clang-format -i app/*.c app/*.h modules/*/*.c

clean:
	rm -rf $(BUILD)

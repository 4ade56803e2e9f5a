#!/usr/bin/python3
"""mkcommon.py: makes app/data/common-passwords.txt, the list pw.c refuses.

Usage: app/data/mkcommon.py [/usr/share/dict/american-english] > \
           app/data/common-passwords.txt

Only passwords of 15 or more characters can be set (pw.c), so the list is
what people type to reach 15 when told to: weak passwords repeated or
padded with digit runs, numeric runs, keyboard walks, well-known phrases,
and dictionary words doubled or padded.  Sources, all reproducible:

  - WEAK below: passwords that top every published "most common passwords"
    ranking year after year (password, iloveyou, qwerty, dragon, ...),
    typed from memory; no breach corpus is copied here.
  - Debian's wamerican word list (/usr/share/dict/american-english,
    package wamerican), lower-case ASCII words only.

Entries are normalised as pw.c normalises candidates: lower-case, no
whitespace.  The output is sorted and deterministic.
"""

import sys

WEAK = """
password passw0rd p@ssw0rd p@ssword pass123 letmein welcome iloveyou
qwerty qwertyuiop asdfgh asdfghjkl zxcvbnm abc123 abcdef dragon monkey
sunshine princess football baseball basketball soccer hockey master
shadow superman batman spiderman trustno1 michael jordan jennifer hunter
ranger buster harley tigger charlie robert thomas killer george computer
michelle jessica pepper daniel access joshua maggie starwars silver
william dallas yankees hello amanda orange freedom ginger nicole matthew
summer cheese corvette taylor secret hammer merlin diamond chelsea flower
cookie lovely whatever admin administrator login root changeme default
guest test testing qazwsx mustang liverpool arsenal chocolate butterfly
angel friends loveme lovely iloveu blink182 pokemon naruto minecraft
fortnite zaq12wsx 1qaz2wsx 1q2w3e4r 1q2w3e4r5t q1w2e3r4 aa123456
password1 welcome1 letmein1 qwerty1 monkey1 dragon1 master1 shadow1
sunshine1 princess1 football1 baseball1 iloveyou1 abc1234 qwe123
123qwe asd123 zxc123 soccer1 jesus god heaven angel1 lucky money
bailey buddy cooker daisy hannah jasmine junior knight lakers maverick
midnight morgan nascar packers panther phoenix rainbow samantha scooter
snoopy sparky steelers thunder tiger toyota trinity victoria viking
winter zxcvbn azerty qwertz 666666 696969 121212 112233 123123 654321
abcabc aaaaaa security company office business crm customer sales
marketing manager support service system server network internet
welcometo secure mypassword newpassword oldpassword yourpassword
""".split()

PHRASES = """
correcthorsebatterystaple thequickbrownfoxjumpsoverthelazydog
iloveyouiloveyou letmeinletmeinletmein passwordpassword
changemechangeme welcometothejungle tobeornottobe maytheforcebewithyou
ihavenopassword idontknowthepassword thisismypassword mypasswordismypassword
passwordisthepassword iloveyousomuch iloveyoumorethanyouknow
onetwothreefourfive onetwothreefourfivesix abcdefghijklmnopqrstuvwxyz
neverforgetyourpassword whatisthepassword forgotmypassword
supersecretpassword verysecurepassword strongpassword123
""".split()

ROWS = ["1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm",
        "!@#$%^&*()", "qwertzuiop", "azertyuiop"]
WALKS = ["1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
         "qazwsxedcrfvtgbyhnujmikolp", "zaq1xsw2cde3vfr4bgt5nhy6mju7",
         "1q2w3e4r5t6y7u8i9o0p", "q1w2e3r4t5y6u7i8o9p0",
         "!qaz@wsx#edc$rfv%tgb", "zaq!xsw@cde#vfr$", "qweasdzxc",
         "qweasdzxcrtyfghvbn", "147258369", "159357", "741852963",
         "789456123", "963852741", "1472583690", "2580", "13579", "24680",
         "asdfjkl;", "poiuytrewq", "lkjhgfdsa", "mnbvcxz", "0987654321"]
YEARS = [str(y) for y in range(1950, 2031)]
DIGITS = "12345678901234567890"
MIN, MAX = 15, 64


def ok(s):
    return MIN <= len(s) <= MAX


def padded(base, years=False):
    """base with digit runs (and years) around it, when that reaches 15."""
    out = set()
    for n in range(1, len(DIGITS) + 1):
        out.add(base + DIGITS[:n])
        out.add(DIGITS[:n] + base)
    for y in YEARS if years else ():
        out.add(base + y)
    for tail in ("!", "!!", "!!!", "1!", "123!", "@123", "#1", ".", "?"):
        out.add(base + tail)
    return out


def repeated(base):
    out = set()
    for k in range(2, 6):
        out.add(base * k)
        out.add(base * k + "1")
        out.add(base * k + "123")
        out.add(base * k + "!")
    return out


def numeric():
    out = set()
    for start in range(10):
        up = "".join(str((start + i) % 10) for i in range(40))
        down = "".join(str((start - i) % 10) for i in range(40))
        for n in range(MIN, 31):
            out.add(up[:n])
            out.add(down[:n])
    for unit in ("12", "123", "1234", "12345", "123456", "1212", "112233",
                 "1122", "2468", "13579", "147", "159", "007", "911", "69",
                 "420", "666", "777", "101", "100", "321", "54321"):
        for n in range(MIN, 31):
            out.add((unit * 31)[:n])
    for d in "0123456789":
        for n in range(MIN, 31):
            out.add(d * n)
    return out


def walks():
    out = set()
    seeds = ROWS + WALKS
    for a in seeds:
        for b in seeds:
            out.add(a + b)
        out.add(a[::-1] + a)
        for k in range(2, 5):
            out.add(a * k)
    for a in seeds:
        for n in range(MIN, len(a) + 1):
            out.add(a[:n])
    joined = "".join(ROWS[:4])
    for i in range(len(joined)):
        for n in range(MIN, len(joined) - i + 1):
            out.add(joined[i:i + n])
    for a in seeds:
        out |= padded(a)
    return out


def weak():
    out = set(PHRASES)
    top = WEAK[:60]
    for w in WEAK:
        out |= padded(w, w in top)
        out |= repeated(w)
    for a in top:
        for b in top:
            out.add(a + b)
            out.add(a + b + "1")
    return out


def dictionary(path):
    """8-letter words doubled, 12 to 14 letters padded to 15 with digits."""
    out = set()
    try:
        words = open(path, encoding="utf-8").read().split()
    except OSError as e:
        sys.exit("mkcommon.py: %s (apt-get install wamerican)" % e)
    for w in words:
        if not (w.isascii() and w.isalpha() and w.islower()):
            continue
        if len(w) == 8:
            out.add(w * 2)
        if 12 <= len(w) <= 14:
            out.add(w + DIGITS[:MIN - len(w)])
    return out


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else \
        "/usr/share/dict/american-english"
    every = numeric() | walks() | weak() | dictionary(path)
    every = sorted(e for e in {"".join(x.lower().split()) for x in every}
                   if ok(e))
    sys.stdout.write("# common-passwords.txt: made by app/data/mkcommon.py;"
                     " do not edit.\n")
    sys.stdout.write("\n".join(every) + "\n")


if __name__ == "__main__":
    main()

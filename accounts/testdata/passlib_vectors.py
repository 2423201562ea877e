#!/usr/bin/python3
"""Writes passlib_vectors.json: legacy password hashes made by passlib (Debian's
python3-passlib; the version is recorded in the output), for the accounts import
tests. Salts are fixed so that a re-run gives the same file:

    /usr/bin/python3 accounts/testdata/passlib_vectors.py > accounts/testdata/passlib_vectors.json
"""
import base64
import hashlib
import json

import passlib
from passlib.hash import bcrypt, django_pbkdf2_sha256, ldap_salted_sha1, phpass

LONG = "correct horse battery staple " * 4  # 116 bytes: bcrypt reads the first 72
UNICODE = "pässwörd \u2713"

vectors = []


def add(scheme, note, password, h):
    vectors.append({"scheme": scheme, "note": note, "password": password, "hash": h.hash(password)})


bc = lambda ident, cost, salt: bcrypt.using(ident=ident, rounds=cost, salt=salt)
add("bcrypt", "$2a$ cost 4", "hunter2", bc("2a", 4, "abcdefghijklmnopqrstuu"))
add("bcrypt", "$2b$ cost 5", "hunter2", bc("2b", 5, "ABCDEFGHIJKLMNOPQRSTUO"))
add("bcrypt", "$2y$ cost 4 (PHP)", "hunter2", bc("2y", 4, "0123456789./abcdefghie"))
add("bcrypt", "$2b$ password past 72 bytes", LONG, bc("2b", 4, "zyxwvutsrqponmlkjihgf."))
add("bcrypt", "$2y$ UTF-8 password", UNICODE, bc("2y", 4, "ZYXWVUTSRQPONMLKJIHGFe"))

ph = lambda ident, rounds, salt: phpass.using(ident=ident, rounds=rounds, salt=salt)
add("phpass", "$P$B, WordPress (2^13 rounds)", "hunter2", ph("P", 13, "WpSalt01"))
add("phpass", "$H$9, phpBB3 (2^11 rounds)", "hunter2", ph("H", 11, "bbSalt/."))
add("phpass", "$P$ UTF-8 password, 2^7 rounds", UNICODE, ph("P", 7, "u.T/f8xy"))

dj = lambda rounds, salt: django_pbkdf2_sha256.using(rounds=rounds, salt=salt)
add("pbkdf2-sha256", "Django, 1000 iterations", "hunter2", dj(1000, "seasalt"))
add("pbkdf2-sha256", "Django, 29000 iterations (passlib's default)", "hunter2", dj(29000, "XK4vxrk08816"))
add("pbkdf2-sha256", "Django, UTF-8 password", UNICODE, dj(1000, "abcdefghijklABCDEFGH1234"))

for v in vectors:
    assert {"bcrypt": bcrypt, "phpass": phpass, "pbkdf2-sha256": django_pbkdf2_sha256}[v["scheme"]].verify(v["password"], v["hash"])

# {SSHA} with a salt shorter than 4 bytes: passlib refuses to read them.
malformed = []
for n in range(4):
    salt = b"saltsalt"[:n]
    h = "{SSHA}" + base64.b64encode(hashlib.sha1(b"hunter2" + salt).digest() + salt).decode()
    try:
        ldap_salted_sha1.verify("hunter2", h)
        verdict = "accepted"
    except ValueError as e:
        verdict = str(e)
    malformed.append({"scheme": "ldap", "note": "{SSHA} with a %d-byte salt" % n, "hash": h, "passlib": verdict})
salt = b"salt"
ok4 = "{SSHA}" + base64.b64encode(hashlib.sha1(b"hunter2" + salt).digest() + salt).decode()
assert ldap_salted_sha1.verify("hunter2", ok4)
vectors.append({"scheme": "ldap", "note": "{SSHA} with a 4-byte salt, the shortest passlib reads", "password": "hunter2", "hash": ok4})

print(json.dumps({"source": "passlib %s (Debian python3-passlib), accounts/testdata/passlib_vectors.py" % passlib.__version__,
                  "vectors": vectors, "malformed": malformed}, indent=1, ensure_ascii=False))

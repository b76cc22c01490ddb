#!/usr/bin/env python3
"""Build the fuzz targets' starting corpora from the repository's own rules and data, plus
the shared corpora (../../shared) when they are there. Run from anywhere:
`python3 fuzz/seed.py`, then `cd fuzz && cargo fuzz run -s none -a TARGET`."""
import glob
import hashlib
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
FORMATS = 13  # rampart_parse::Format::ALL.len()
random.seed(7)


def put(target, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


# parse_record: a selector byte (the format) then a record.
lines = [
    "<38>Dec 10 11:04:43 LabSZ sshd[25544]: Failed password for invalid user admin from 183.62.140.253 port 48376 ssh2",
    "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\"] BOM'su root' failed",
    "<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
    "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4",
    "CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232 msg=a\\=b\\|c",
    "LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=10.50.1.1\tdst=2.10.20.20\tsev=5",
    "LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5",
    "{\"timestamp\":\"2024-01-01T00:00:00Z\",\"event_type\":\"alert\",\"src_ip\":\"1.2.3.4\",\"alert\":{\"signature\":\"x\"}}",
    "{\"ts\":1700000000.5,\"uid\":\"C1\",\"id.orig_h\":\"10.0.0.1\",\"id.resp_h\":\"10.0.0.2\",\"_path\":\"conn\"}",
    "{\"message\":\"<38>Dec 10 11:04:43 LabSZ sshd[1]: Accepted password for root from 1.2.3.4 port 22 ssh2\",\"host\":{\"name\":\"x\"}}",
    "type=EXECVE msg=audit(1364481363.243:24287): argc=3 a0=\"cat\" a1=2F6574632F736861646F77",
    "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326 \"http://x/\" \"Mozilla/4.08\"",
    "[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6",
    "a=1 b=\"two words\" c='x' d=",
    "<133>1 2024-01-01T00:00:00Z relay authlog - - - Dec 10 11:04:43 LabSZ sshd[25544]: Failed password for root from 1.2.3.4 port 1 ssh2",
]
for name in ("OpenSSH_2k.log", "Linux_2k.log", "Apache_2k.log"):
    p = os.path.join(SHARED, "datasets", "loghub", name)
    if os.path.exists(p):
        with open(p, errors="replace") as f:
            lines += random.sample(f.read().splitlines(), 40)
for line in lines:
    for fmt in range(FORMATS):
        put("parse_record", bytes([fmt]) + line.encode())

# query and store_search: the query language's forms.
queries = [
    "*", "failed", "\"Failed password\"", "host.name:web01 AND event.outcome:failure AND NOT user.name:svc_*",
    "source.port:[1024 TO 65535]", "source.port > 1000", "user.name:/adm.n/", "message:*password*",
    "source.ip:10.0.0.0/8", "event.category:authentication OR event.category:process",
    "(a OR b) AND NOT (c:d)", "tags:a", "alert.severity <= 2", "n:-1500", "host.name:\"LabSZ\"",
    "* | stats count() by source.ip", "* | top 10 user.name", "* | timechart span=1h count()",
    "* | sort -@timestamp | head 3", "* | fields host.name, user.name", "* | rare host.name",
    "* | stats dc(host.name), sum(out), avg(source.port), min(n), max(n) by tenant",
    "event.outcome:failure | stats count() as n by user.name | sort -n | head 5",
    "_exists_:user.name", "NOT _exists_:host.name", "tenant:acme", "@timestamp >= 2024-03-01",
    "event.original:*sqlmap*", "event.parse_error:*", "process.pid:25544", "sshd.invalid_user:true",
    "url.path:\\/admin.php", "user.name:al?ce", "host.name:db01 | top 3 process.name",
]
for q in queries:
    put("query", q)
    put("store_search", q)

# sigma_rule: the built-in rules and a sample of the SigmaHQ corpus.
rules = glob.glob(os.path.join(ROOT, "crates", "rampart-detect", "rules", "**", "*.yml"), recursive=True)
rules += glob.glob(os.path.join(ROOT, "crates", "rampart-cli", "tests", "data", "hunt", "rules", "*.yml"))
rules += glob.glob(os.path.join(ROOT, "crates", "rampart-detect", "baselines", "*.yml"))
sigma = glob.glob(os.path.join(SHARED, "sigma", "rules*", "**", "*.yml"), recursive=True)
rules += random.sample(sigma, min(200, len(sigma)))
for p in rules:
    with open(p, "rb") as f:
        put("sigma_rule", f.read())

# evtx_file: the smallest files of the EVTX corpus.
evtx = sorted(glob.glob(os.path.join(SHARED, "datasets", "evtx-attack-samples", "**", "*.evtx"), recursive=True),
              key=os.path.getsize)[:12]
for p in evtx:
    with open(p, "rb") as f:
        put("evtx_file", f.read())

# windows_xml: wevtutil and Event Viewer shapes.
event = ("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing'/>"
         "<EventID>4688</EventID><TimeCreated SystemTime='2024-03-10T11:00:01.000Z'/><EventRecordID>1</EventRecordID><Channel>Security</Channel>"
         "<Computer>xml1.corp.example</Computer></System><EventData><Data Name='SubjectUserName'>ann</Data>"
         "<Data Name='CommandLine'>certutil.exe -urlcache &amp;&amp; a.exe</Data></EventData></Event>")
put("windows_xml", event + "\n" + event)
put("windows_xml", "<?xml version='1.0' encoding='UTF-8'?><Events>" + event + "</Events>")
put("windows_xml", "<Event><System><EventID Qualifiers='0'>7045</EventID></System><UserData><X a='1'>t<![CDATA[c]]></X></UserData></Event>")
# http_ingest: a selector byte (route, gzip, HEC channel) then a body.
import gzip
bodies = [
    '{"message":"hello","host":{"name":"h1"}}\n{"message":"two"}\nnot json\n',
    '{"event":"Failed password for root from 1.2.3.4 port 22 ssh2","time":1700000000.5,"host":"h1","sourcetype":"linux_secure","fields":{"a":1}}{"event":{"k":"v"}}',
    '<38>Dec 10 11:04:43 LabSZ sshd[1]: Failed password for root from 1.2.3.4 port 22 ssh2\nsecond line\n',
    '{"index":{"_index":"logs"}}\n{"message":"x","@timestamp":"2024-01-01T00:00:00Z"}\n{"create":{}}\n{"log":"y"}\n{"delete":{"_id":"1"}}\n',
]
for body in bodies:
    for sel in range(6):
        put("http_ingest", bytes([sel]) + body.encode())
        put("http_ingest", bytes([sel | 0x10]) + gzip.compress(body.encode()))
        put("http_ingest", bytes([sel | 0x20]) + body.encode())
# syslog_tcp: byte streams as senders frame them.
for line in lines[:15]:
    put("syslog_tcp", line + "\n" + line + "\r\n")
    b = line.encode()
    put("syslog_tcp", str(len(b)).encode() + b" " + b + str(len(b)).encode() + b" " + b)
put("syslog_tcp", b"99999999999 x")
put("syslog_tcp", b"12 <13>short\n")
put("syslog_tcp", b"x" * 2000 + b"\n")
print("corpora under", os.path.join(HERE, "corpus"))

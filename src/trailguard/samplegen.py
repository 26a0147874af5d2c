"""Seeded, realistic sample logs of a small fictional AWS account, with attacks in them.

:func:`generate_sample` writes, gzip-compressed and in the S3 key layout AWS uses:

- CloudTrail log files (``{"Records": [...]}``, one per region every 15 minutes) and a
  couple of unsigned CloudTrail digest files, which a scan should recognise and skip;
- VPC flow logs every 10 minutes: the default (version 2) format for the us-east-1 VPC,
  and a custom version-5 format for the eu-west-1 VPC;
- Route 53 Resolver query logs (JSON lines) every 15 minutes for both VPCs.

The account (111122223333) runs a small shop: two web servers, an API server, a
PostgreSQL server, a bastion and a CI runner in a us-east-1 VPC (with a NAT gateway),
and a web server and a worker in an eu-west-1 VPC; people work through the console,
IAM Identity Center and the CLI; a CI user deploys; AWS services act on the account's
behalf.  Traffic follows the time of day.

Into that background go attacks, each at a known time (see
:attr:`SampleManifest.attacks`), and near misses that a detection must not mistake for
them (:attr:`SampleManifest.near_misses`).  The same ``seed``, ``days`` and ``start``
always give the same bytes.  Names and addresses are fictional; addresses of the
attackers come from the documentation ranges (RFC 5737) or from the GeoIP test data.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import math
import random
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

import msgspec

__all__ = [
    "ACCOUNT_ID",
    "REGIONS",
    "EmbeddedAttack",
    "NearMiss",
    "SampleFile",
    "SampleLogType",
    "SampleManifest",
    "generate_sample",
]

ACCOUNT_ID: Final = "111122223333"
REGIONS: Final = ("us-east-1", "eu-west-1")
#: A Monday; chosen so that the default sample is the same everywhere.
DEFAULT_START: Final = datetime(2025, 9, 1, tzinfo=UTC)

#: The "known bad" address and domain of attack (e), for threat lists.
THREAT_IP: Final = "198.51.100.77"
THREAT_DOMAIN: Final = "guarddutyc2activityb.com"

SampleLogType = Literal["cloudtrail", "cloudtrail-digest", "vpcflow", "dns"]

CLOUDTRAIL_PERIOD: Final = 15 * 60
FLOW_PERIOD: Final = 10 * 60
DNS_PERIOD: Final = 15 * 60

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class SampleFile:
    """One file written: its path relative to the output folder (``/``-separated)."""

    path: str
    log_type: SampleLogType
    #: the region, or the VPC id for Resolver query logs (their key has no region)
    location: str
    events: int
    size: int


@dataclass(frozen=True, slots=True)
class EmbeddedAttack:
    """An attack placed in the sample, and the finding it should raise."""

    name: str
    finding_type: str
    log_type: SampleLogType
    region: str
    first_seen: datetime
    last_seen: datetime
    #: what the finding is about: an access key id or an instance id
    resource: str
    #: who or what acted: an IP address, a user or a domain
    actor: str
    description: str
    #: True when only a threat list (THREAT_IP / THREAT_DOMAIN) can reveal it
    needs_threat_list: bool = False


@dataclass(frozen=True, slots=True)
class NearMiss:
    """Something close to an attack that must not raise ``not_finding_type``."""

    name: str
    not_finding_type: str
    log_type: SampleLogType
    region: str
    time: datetime
    description: str


@dataclass(frozen=True, slots=True)
class SampleManifest:
    """What :func:`generate_sample` wrote, and what a scan of it should find."""

    out: Path
    seed: int
    account_id: str
    regions: tuple[str, ...]
    start: datetime
    end: datetime
    files: tuple[SampleFile, ...]
    #: events (records) written per log type; digest files hold none
    events: Mapping[str, int]
    #: finding types the built-in detections should raise (threat-list ones excluded)
    expected_finding_types: tuple[str, ...]
    attacks: tuple[EmbeddedAttack, ...]
    near_misses: tuple[NearMiss, ...]
    threat_ips: tuple[str, ...] = (THREAT_IP,)
    threat_domains: tuple[str, ...] = (THREAT_DOMAIN,)

    @property
    def intel_finding_types(self) -> tuple[str, ...]:
        """Finding types that only the demo's threat lists (:data:`DEMO_LISTS`) reveal."""
        return tuple(sorted({a.finding_type for a in self.attacks if a.needs_threat_list}))

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def files_of(self, log_type: SampleLogType) -> tuple[SampleFile, ...]:
        return tuple(f for f in self.files if f.log_type == log_type)


# --------------------------------------------------------------------------- the account

US, EU = REGIONS
BUCKET: Final = f"aws-cloudtrail-logs-{ACCOUNT_ID}-5e1f7a2c"
TRAIL: Final = "security-audit"
TRAIL_ARN: Final = f"arn:aws:cloudtrail:{US}:{ACCOUNT_ID}:trail/{TRAIL}"
KMS_KEY_ARN: Final = f"arn:aws:kms:{US}:{ACCOUNT_ID}:key/3f1c9a52-7d4e-4b8a-9e21-6c0d5f8a4b17"
IDENTITY_STORE: Final = f"arn:aws:identitystore::{ACCOUNT_ID}:identitystore/d-9067a1b2c3"

OFFICE_IP: Final = "81.2.69.160"
BOB_IP: Final = "216.160.83.56"
CAROL_IP: Final = "89.160.20.128"
ATTACKER_IP: Final = "192.0.2.45"
SCAN_TARGET: Final = "203.0.113.50"
REBIND_DOMAIN: Final = "a9fea9fe.rebind.example.net."
IMDS_IP: Final = "169.254.169.254"


#: the demo's threat lists, (name, category, entries): they name the sample's attackers
DEMO_LISTS: Final = (
    ("demo-threats", "custom", (THREAT_IP, "2001:db8:bad::/48", "malware-drop.example")),
    ("demo-c2-domains", "c2", (THREAT_DOMAIN,)),
    ("demo-tor-exits", "tor", (ATTACKER_IP,)),
)


def write_demo_lists(folder: Path) -> list[tuple[str, str, Path]]:
    """Write :data:`DEMO_LISTS` as TXT files in ``folder``: (name, category, path) each."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, category, entries in DEMO_LISTS:
        path = folder / f"{name}.txt"
        path.write_text(f"# trailguard demo: {category} list\n" + "\n".join(entries) + "\n")
        out.append((name, category, path))
    return out


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(w) for w in text.split())


@dataclass(frozen=True, slots=True)
class _Instance:
    name: str
    region: str
    role: Literal["web", "api", "db", "bastion", "runner", "nat", "worker"]
    instance_id: str
    eni: str
    private_ip: str
    public_ip: str | None
    subnet: str
    az: str
    iam_role: str
    vpc: str

    @property
    def egress_ip(self) -> str:
        """The address its traffic to the internet comes from."""
        return self.public_ip or _NAT.public_ip or ""


_US_VPC: Final = "vpc-0c4a7e21f5b39d806"
_EU_VPC: Final = "vpc-0f3e9a1c7b5d24e68"

# name, role, instance, interface, private and public address, subnet, zone, IAM role
_HOSTS: Final = """
nat-a       nat     -                   eni-09708192a3b4c5d6e 10.20.0.5   3.209.14.250
            subnet-0a51e3c7d9f2b4068 us-east-1a -
web-1       web     i-0a7f3c91e2b4d5068 eni-0f1a2b3c4d5e60718 10.20.0.21  54.210.33.17
            subnet-0a51e3c7d9f2b4068 us-east-1a web-server
web-2       web     i-0b8e4d02f3c5e6179 eni-0e2b3c4d5e6f70819 10.20.1.37  54.210.41.92
            subnet-0b62f4d8e1a3c5179 us-east-1b web-server
api-1       api     i-0c9f5e13a4d6f7280 eni-0d3c4d5e6f708192a 10.20.10.45 -
            subnet-0c73a5e9f2b4d6280 us-east-1a api-server
db-1        db      i-0d0a6f24b5e7a8391 eni-0c4d5e6f708192a3b 10.20.11.12 -
            subnet-0d84b6fa03c5e7391 us-east-1b db-server
bastion     bastion i-0e1b7a35c6f8b94a2 eni-0b5e6f708192a3b4c 10.20.0.10  3.91.87.140
            subnet-0a51e3c7d9f2b4068 us-east-1a bastion
ci-runner   runner  i-0f2c8b46d7a9c05b3 eni-0a6f708192a3b4c5d 10.20.0.77  3.91.112.45
            subnet-0a51e3c7d9f2b4068 us-east-1a ci-runner
eu-web-1    web     i-0a3d9e57f8b1c26d4 eni-0a1b9c8d7e6f50413 10.40.1.15  34.242.10.87
            subnet-0e95c7ab14d6f8a02 eu-west-1a web-server
eu-worker-1 worker  i-0b4e0f68a9c2d37e5 eni-0b2c0d9e8f7a61524 10.40.2.30  52.48.200.16
            subnet-0fa6d8bc25e7a9b13 eu-west-1b eu-worker
"""


def _hosts() -> dict[str, _Instance]:
    words = _HOSTS.split()
    hosts: dict[str, _Instance] = {}
    for i in range(0, len(words), 9):
        name, role, iid, eni, ip, pub, subnet, az, iam_role = words[i : i + 9]
        region = US if az.startswith(US) else EU
        hosts[name] = _Instance(
            name=name,
            region=region,
            role=role,  # type: ignore[arg-type]
            instance_id="" if iid == "-" else iid,
            eni=eni,
            private_ip=ip,
            public_ip=None if pub == "-" else pub,
            subnet=subnet,
            az=az,
            iam_role="" if iam_role == "-" else iam_role,
            vpc=_US_VPC if region == US else _EU_VPC,
        )
    return hosts


_HOST: Final = _hosts()
_NAT, _WEB1, _WEB2, _API, _DB, _BASTION, _RUNNER, _EU_WEB, _EU_WORKER = _HOST.values()

_US_INSTANCES: Final = (_WEB1, _WEB2, _API, _DB, _BASTION, _RUNNER)
_EU_INSTANCES: Final = (_EU_WEB, _EU_WORKER)
_INSTANCES: Final = _US_INSTANCES + _EU_INSTANCES


@dataclass(frozen=True, slots=True)
class _FlowLog:
    flow_log_id: str
    region: str
    vpc: str
    fields: tuple[str, ...]
    enis: tuple[_Instance, ...]


_V2_FIELDS: Final = _words(
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
    "start end action log-status"
)
_V5_FIELDS: Final = _words(
    "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr "
    "srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action "
    "tcp-flags log-status region flow-direction"
)
_FLOW_LOGS: Final = (
    _FlowLog("fl-0a1b2c3d4e5f67890", US, _US_VPC, _V2_FIELDS, (*_US_INSTANCES, _NAT)),
    _FlowLog("fl-0f9e8d7c6b5a43210", EU, _EU_VPC, _V5_FIELDS, _EU_INSTANCES),
)

# Well-known destinations: name -> (addresses by region or "*", port).  The DNS
# answers and the flows use the same addresses, so the two logs agree.
_AWS_ENDPOINTS: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "ssm": {US: ("52.46.145.233", "52.46.136.98"), EU: ("52.95.121.14", "52.95.120.201")},
    "ec2messages": {US: ("52.46.151.25", "52.46.149.187"), EU: ("52.95.122.60",)},
    "ssmmessages": {US: ("52.46.132.77", "52.46.141.8"), EU: ("52.95.123.92",)},
    "logs": {US: ("52.46.140.145", "52.46.128.66"), EU: ("52.95.118.33",)},
    "monitoring": {US: ("52.46.154.98",), EU: ("52.95.119.71",)},
    "sts": {US: ("52.94.209.3", "52.94.208.104"), EU: ("52.94.217.11",)},
    "secretsmanager": {US: ("52.46.157.204",), EU: ("52.95.116.19",)},
    "sqs": {US: ("52.46.158.52", "52.46.147.116"), EU: ("52.95.125.7",)},
    "s3": {
        US: ("52.216.178.37", "52.217.165.224", "3.5.28.190"),
        EU: ("52.218.92.17", "3.5.70.11"),
    },
    "kms": {US: ("52.46.142.17",), EU: ("52.95.117.140",)},
}
_INTERNET: Final[dict[str, tuple[str, ...]]] = {
    "github.com.": ("140.82.112.4", "140.82.113.3"),
    "api.github.com.": ("140.82.112.6", "140.82.113.5"),
    "codeload.github.com.": ("140.82.112.10",),
    "objects.githubusercontent.com.": ("185.199.108.133", "185.199.109.133", "185.199.110.133"),
    "pypi.org.": ("151.101.0.223", "151.101.64.223", "151.101.128.223"),
    "files.pythonhosted.org.": ("151.101.1.63", "151.101.65.63"),
    "registry-1.docker.io.": ("54.236.113.205", "54.227.20.253", "52.1.184.176"),
    "auth.docker.io.": ("54.236.113.205", "3.228.146.75"),
    "production.cloudflare.docker.com.": ("104.16.99.215", "104.16.100.215"),
    "api.stripe.com.": ("54.187.174.169", "54.187.205.235", "54.241.31.99"),
    "hooks.slack.com.": ("34.234.2.87", "3.89.66.33"),
    "o450123.ingest.sentry.io.": ("34.120.195.249",),
    "pastebin.com.": ("104.20.67.143", "172.67.34.170"),
}
_CNAMES: Final[dict[str, str]] = {
    "files.pythonhosted.org.": "dualstack.python.map.fastly.net.",
    "objects.githubusercontent.com.": "github.map.fastly.net.",
    "hooks.slack.com.": "hooks-slack-com.edge.slack-edge.com.",
}
_PRIVATE_ZONE: Final[dict[str, str]] = {
    "api.prod.internal.": _API.private_ip,
    "db.prod.internal.": _DB.private_ip,
    "bastion.prod.internal.": _BASTION.private_ip,
}
_FIREWALL: Final = {
    "pastebin.com.": ("ALERT", "rslvr-fdl-7b1e2f4a9c0d3856"),
    "transfer.sh.": ("BLOCK", "rslvr-fdl-2d8c5a1f7e3b9046"),
}
_FIREWALL_GROUP: Final = "rslvr-frg-3c6a1d9e0b2f4857"

# First octets of busy allocated IPv4 blocks: internet clients and scanners come from
# these (never private, documentation or multicast space).
_CLIENT_OCTETS: Final = _ints(
    "24 31 37 46 62 66 68 71 73 76 77 78 79 82 83 84 86 87 88 90 91 92 93 94 95 98 99 107 "
    "108 109 110 112 113 114 115 116 117 118 121 122 124 125 136 141 146 151 152 154 156 "
    "163 173 174 176 177 178 179 181 186 187 188 189 190 191 200 201 207 208 209 212 213 "
    "217 219 220 222"
)
_SCANNER_OCTETS: Final = (45, 80, 89, 104, 139, 159, 162, 165, 167, 185, 193, 194, 195)
_NOISE_PORTS: Final = _ints(
    "22 22 22 23 23 80 445 445 3389 3389 8080 8443 5900 1433 3306 6379 9200 2375 5060 37215 "
    "52869 60001 81 8088 7547 25 111 161 123 5555"
)
_SCAN_PORTS: Final = _ints(
    "21 22 23 25 53 80 110 111 135 139 143 161 389 443 445 465 587 631 636 873 993 995 1080 "
    "1433 1521 1723 2049 2181 2375 2376 3000 3128 3306 3389 4369 5000 5432 5601 5672 5900 "
    "5984 6379 6443 7001 8000 8008 8080 8081 8088 8443 8888 9000 9042 9090 9092 9200 9300 "
    "10250 11211 15672 27017"
)

_LOGIN_TO: Final = (
    "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true"
    "&state=hashArgsFromTB_us-east-1_"
)
_UA_BROWSER: Final = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/128.0.0.0 Safari/537.36"
)
_UA_ATTACKER_BROWSER: Final = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:129.0) Gecko/20100101 Firefox/129.0"
)
_UA_SSM: Final = "aws-sdk-go/1.44.260 (go1.22.4; linux; amd64) amazon-ssm-agent/3.3.808.0"
_UA_CLI_BOB: Final = (
    "aws-cli/2.17.38 md/awscrt#0.21.2 ua/2.0 os/macos#23.6.0 md/arch#arm64 lang/python#3.11.9 "
    "md/pyimpl#CPython cfg/retry-mode#standard md/installer#source md/prompt#off "
    "md/command#{command}"
)
_UA_CLI_CI: Final = (
    "aws-cli/2.17.20 md/awscrt#0.20.11 ua/2.0 os/linux#6.1.102-111.182.amzn2023.x86_64 "
    "md/arch#x86_64 lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#standard "
    "md/installer#exe md/distrib#amzn.2023 md/prompt#off md/command#{command}"
)
_UA_ATTACKER_CLI: Final = (
    "aws-cli/2.13.5 Python/3.11.4 Linux/6.5.0-kali3-amd64 exe/x86_64.kali.2023 prompt/off "
    "command/{command}"
)
_UA_BOTO: Final = (
    "Boto3/1.34.144 md/Botocore#1.34.144 ua/2.0 os/linux#5.10.223-232.873.amzn2.x86_64 "
    "md/arch#x86_64 lang/python#3.12.4 md/pyimpl#CPython exec-env/{env} "
    "cfg/retry-mode#legacy Botocore/1.34.144"
)
_UA_TERRAFORM: Final = (
    "APN/1.0 HashiCorp/1.0 Terraform/1.9.5 (+https://www.terraform.io) "
    "terraform-provider-aws/5.64.0 (+https://registry.terraform.io/providers/hashicorp/aws) "
    "aws-sdk-go-v2/1.30.4 ua/2.0 os/linux lang/go#1.22.6 md/GOOS#linux md/GOARCH#amd64 "
    "api/{api}#1.0.0"
)


# --------------------------------------------------------------------------- helpers


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _stamp(ts: float) -> str:
    return time.strftime("%Y%m%dT%H%MZ", time.gmtime(ts))


def _day_path(ts: float) -> str:
    return time.strftime("%Y/%m/%d", time.gmtime(ts))


def _aws_date(ts: float) -> str:
    """The date format AWS uses inside some responses: ``Sep 1, 2025, 6:12:33 AM``."""
    tm = time.gmtime(ts)
    hour = tm.tm_hour % 12 or 12
    ampm = "AM" if tm.tm_hour < 12 else "PM"
    clock = f"{hour}:{tm.tm_min:02d}:{tm.tm_sec:02d} {ampm}"
    return f"{time.strftime('%b', tm)} {tm.tm_mday}, {tm.tm_year}, {clock}"


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("/".join(map(str, parts)).encode()).digest()


def _key_id(prefix: str, *parts: object) -> str:
    """An access key id (``AKIA``/``ASIA`` + 16 base32 characters) derived from ``parts``."""
    return prefix + base64.b32encode(_digest(*parts)).decode()[:16]


def _unique_id(prefix: str, *parts: object) -> str:
    """An IAM unique id (``AIDA…``/``AROA…``: 21 characters)."""
    return prefix + base64.b32encode(_digest(*parts)).decode()[:17]


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _load(ts: float) -> float:
    """Relative traffic at ``ts``: low at night (UTC), highest in the afternoon."""
    tm = time.gmtime(ts)
    hour = tm.tm_hour + tm.tm_min / 60
    day = 0.35 + 0.65 * (0.5 - 0.5 * math.cos(2 * math.pi * (hour - 4) / 24))
    return day * (0.6 if tm.tm_wday >= 5 else 1.0)


def _office(ts: float) -> float:
    """1 in office hours (weekdays 08-18 UTC), a trickle otherwise."""
    tm = time.gmtime(ts)
    return 1.0 if tm.tm_wday < 5 and 8 <= tm.tm_hour < 18 else 0.03


def _ip_pool(rng: random.Random, octets: Sequence[int], n: int) -> list[str]:
    pool: list[str] = []
    seen: set[str] = set()
    while len(pool) < n:
        a, b, c = rng.randrange(256), rng.randrange(256), rng.randrange(1, 255)
        ip = f"{rng.choice(octets)}.{a}.{b}.{c}"
        if ip not in seen:
            seen.add(ip)
            pool.append(ip)
    return pool


class _Rand:
    """Random ids from one seeded stream."""

    _ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

    def __init__(self, seed: str) -> None:
        self.rng = random.Random(seed)

    def uuid(self) -> str:
        v = (self.rng.getrandbits(128) & ~(0xF000 << 64) | (0x4000 << 64)) & ~(0xC << 60) | (
            0x8 << 60
        )
        h = f"{v:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def hex(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def alnum(self, n: int) -> str:
        return "".join(self.rng.choice(self._ALNUM) for _ in range(n))

    def token(self, n: int) -> str:
        return base64.b64encode(self.rng.randbytes(n)).decode()

    def ephemeral(self) -> int:
        """A Linux ephemeral port (32768-60999)."""
        return self.rng.randrange(32768, 61000)

    def client_port(self) -> int:
        """A source port of some internet client (Linux, Windows or behind NAT)."""
        r = self.rng.random()
        if r < 0.45:
            return self.rng.randrange(32768, 61000)
        if r < 0.85:
            return self.rng.randrange(49152, 65536)
        return self.rng.randrange(1024, 65536)


# --------------------------------------------------------------------------- identities


def _iam_user(name: str, key: str) -> Json:
    return {
        "type": "IAMUser",
        "principalId": _unique_id("AIDA", "user", name),
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/{name}",
        "accountId": ACCOUNT_ID,
        "accessKeyId": key,
        "userName": name,
    }


def _role_session(
    role: str,
    session: str,
    created: float,
    *,
    path: str = "",
    mfa: bool = False,
    ec2: bool = False,
    invoked_by: str | None = None,
    source_identity: str | None = None,
) -> Json:
    role_id = _unique_id("AROA", "role", role)
    context: Json = {
        "sessionIssuer": {
            "type": "Role",
            "principalId": role_id,
            "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{path}{role}",
            "accountId": ACCOUNT_ID,
            "userName": role,
        },
        "webIdFederationData": {},
        "attributes": {"creationDate": _iso(created), "mfaAuthenticated": str(mfa).lower()},
    }
    if source_identity:
        context["sourceIdentity"] = source_identity
    if ec2:
        context["ec2RoleDelivery"] = "2.0"
    ident: Json = {
        "type": "AssumedRole",
        "principalId": f"{role_id}:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role}/{session}",
        "accountId": ACCOUNT_ID,
        "accessKeyId": _key_id("ASIA", role, session, created),
        "sessionContext": context,
    }
    if invoked_by:
        ident["invokedBy"] = invoked_by
    return ident


def _root(created: float | None, key: str = "", invoked_by: str | None = None) -> Json:
    ident: Json = {
        "type": "Root",
        "principalId": ACCOUNT_ID,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:root",
        "accountId": ACCOUNT_ID,
        "accessKeyId": key,
    }
    if created is not None:
        ident["sessionContext"] = {
            "sessionIssuer": {},
            "webIdFederationData": {},
            "attributes": {"creationDate": _iso(created), "mfaAuthenticated": "false"},
        }
    if invoked_by:
        ident["invokedBy"] = invoked_by
    return ident


def _service(name: str) -> Json:
    return {"type": "AWSService", "invokedBy": name}


_SSO_ADMIN: Final = "AWSReservedSSO_AdministratorAccess_5c0e1d2a3b4f6a7c"
_SSO_READONLY: Final = "AWSReservedSSO_ReadOnlyAccess_8d2f3e4a5b6c7d9e"
_SSO_PATH: Final = "aws-reserved/sso.amazonaws.com/"
_CI_KEY: Final = _key_id("AKIA", "user", "ci-deploy")
_ALICE_KEY: Final = _key_id("AKIA", "user", "alice.ops")
_REPORTING_KEY: Final = _key_id("AKIA", "user", "reporting-bot")
_BOB_USER_ID: Final = "94d00cd8-e9e6-4810-b177-b08e84775435"

_EVENT_VERSIONS: Final = {
    "signin.amazonaws.com": "1.09",
    "sts.amazonaws.com": "1.08",
    "ssm.amazonaws.com": "1.08",
    "ec2.amazonaws.com": "1.10",
    "iam.amazonaws.com": "1.09",
    "cloudtrail.amazonaws.com": "1.11",
    "kms.amazonaws.com": "1.08",
    "sso.amazonaws.com": "1.10",
    "lambda.amazonaws.com": "1.09",
    "s3.amazonaws.com": "1.10",
}


def _host(source: str, region: str) -> str:
    svc = source.split(".", 1)[0]
    if svc in ("iam", "signin"):
        return "signin.aws.amazon.com" if svc == "signin" else "iam.amazonaws.com"
    if svc == "sso":
        return f"portal.sso.{region}.amazonaws.com"
    return f"{svc}.{region}.amazonaws.com"


# --------------------------------------------------------------------------- CloudTrail


@dataclass(frozen=True, slots=True)
class _Who:
    """Who calls: identity, from where, with which client."""

    identity: Json
    ip: str
    agent: str
    console: bool = False


class _CloudTrail:
    """Builds CloudTrail records into per-region lists of (time, record)."""

    def __init__(self, rand: _Rand) -> None:
        self.rand = rand
        self.records: dict[str, list[tuple[float, Json]]] = {r: [] for r in REGIONS}

    def call(
        self,
        t: float,
        who: _Who,
        source: str,
        name: str,
        *,
        region: str = US,
        params: Json | None = None,
        response: Json | None = None,
        read_only: bool,
        error: tuple[str, str] | None = None,
        extra: Json | None = None,
        resources: list[Json] | None = None,
        event_type: str = "AwsApiCall",
        shared: bool = False,
        agent: str | None = None,
    ) -> Json:
        ip_is_service = who.ip.endswith(".amazonaws.com")
        rec: Json = {
            "eventVersion": _EVENT_VERSIONS.get(source, "1.09"),
            "userIdentity": who.identity,
            "eventTime": _iso(t),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": who.ip,
            "userAgent": agent or who.agent,
        }
        if error:
            rec["errorCode"], rec["errorMessage"] = error
        rec["requestParameters"] = params
        rec["responseElements"] = response
        if extra is not None:
            rec["additionalEventData"] = extra
        if source == "s3.amazonaws.com":
            rec["requestID"] = self.rand.hex(16).upper()
        else:
            rec["requestID"] = self.rand.uuid()
        rec["eventID"] = self.rand.uuid()
        rec["readOnly"] = read_only
        if resources is not None:
            rec["resources"] = resources
        rec["eventType"] = event_type
        rec["managementEvent"] = True
        rec["recipientAccountId"] = ACCOUNT_ID
        if shared:
            rec["sharedEventID"] = self.rand.uuid()
        rec["eventCategory"] = "Management"
        if not ip_is_service and event_type != "AwsServiceEvent":
            tls13 = _digest(rec["userAgent"])[0] % 6 != 0  # a client keeps its TLS version
            rec["tlsDetails"] = {
                "tlsVersion": "TLSv1.3" if tls13 else "TLSv1.2",
                "cipherSuite": "TLS_AES_128_GCM_SHA256" if tls13 else "ECDHE-RSA-AES128-GCM-SHA256",
                "clientProvidedHostHeader": _host(source, region),
            }
        if who.console:
            rec["sessionCredentialFromConsole"] = "true"
        self.records[region].append((t, rec))
        return rec

    def assume_role_by_service(
        self, t: float, service: str, role: str, session: str, region: str
    ) -> None:
        role_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/{role}"
        self.call(
            t,
            _Who(_service(service), service, service),
            "sts.amazonaws.com",
            "AssumeRole",
            region=region,
            params={"roleArn": role_arn, "roleSessionName": session},
            response={
                "credentials": {
                    "accessKeyId": _key_id("ASIA", role, session, t),
                    "sessionToken": "IQoJb3JpZ2luX2VjE" + self.rand.token(180),
                    "expiration": _aws_date(t + 6 * 3600),
                }
            },
            read_only=True,
            resources=[{"accountId": ACCOUNT_ID, "type": "AWS::IAM::Role", "ARN": role_arn}],
            shared=True,
        )


def _instance_who(inst: _Instance, t: float, agent: str = _UA_SSM) -> _Who:
    created = t - (t % 21600) - 300  # instance credentials are renewed every 6 hours
    ident = _role_session(inst.iam_role, inst.instance_id, created, ec2=True)
    return _Who(ident, inst.egress_ip, agent)


def _sso_who(role: str, user: str, ip: str, t: float, agent: str, console: bool = False) -> _Who:
    created = t - (t % 3600) - 120
    ident = _role_session(role, user, created, path=_SSO_PATH, mfa=False)
    return _Who(ident, ip, agent, console)


class _Background:
    """Everyday CloudTrail activity of the account."""

    def __init__(self, ct: _CloudTrail, rand: _Rand) -> None:
        self.ct = ct
        self.rand = rand
        self.rng = rand.rng

    def window(self, w: float, period: float) -> None:
        load, office = _load(w), _office(w)
        hours = period / 3600
        activities: list[tuple[float, Callable[[float], None]]] = [
            (4.0, self.ssm_update),
            (1.2, self.ssm_associations),
            (1.0, self.instance_credentials),
            (3.0 * load, self.lambda_work),
            (2.0 * load, self.api_secrets),
            (5.0, self.config_recorder),
            (1.0, self.trail_kms),
            (10.0 * office, self.alice_console),
            (6.0 * office, self.bob_cli),
            (1.5 * office, self.carol_readonly),
            (0.5 * office, self.identity_center),
            (0.35 * office, self.ci_deploy),
            (0.3, self.ssm_throttled),
        ]
        for rate, act in activities:
            for _ in range(_poisson(self.rng, rate * hours)):
                act(w + self.rng.uniform(0, period))

    # -- machines

    def ssm_update(self, t: float) -> None:
        for inst in _INSTANCES:
            tt = t + self.rng.uniform(-300, 300)
            self.ct.call(
                tt,
                _instance_who(inst, tt),
                "ssm.amazonaws.com",
                "UpdateInstanceInformation",
                region=inst.region,
                params={
                    "instanceId": inst.instance_id,
                    "agentVersion": "3.3.808.0",
                    "agentStatus": "Active",
                    "platformType": "Linux",
                    "platformName": "Amazon Linux",
                    "platformVersion": "2023",
                    "iPAddress": inst.private_ip,
                    "computerName": f"ip-{inst.private_ip.replace('.', '-')}.ec2.internal"
                    if inst.region == US
                    else f"ip-{inst.private_ip.replace('.', '-')}.{EU}.compute.internal",
                    "agentName": "amazon-ssm-agent",
                    "availabilityZone": inst.az,
                    "availabilityZoneId": ("use1-az4" if inst.az.endswith("a") else "use1-az6")
                    if inst.region == US
                    else ("euw1-az1" if inst.az.endswith("a") else "euw1-az2"),
                },
                read_only=False,
            )

    def ssm_associations(self, t: float) -> None:
        inst = self.rng.choice(_INSTANCES)
        self.ct.call(
            t,
            _instance_who(inst, t),
            "ssm.amazonaws.com",
            "ListInstanceAssociations",
            region=inst.region,
            params={"instanceId": inst.instance_id, "maxResults": 20},
            read_only=True,
        )

    def ssm_throttled(self, t: float) -> None:
        inst = self.rng.choice(_INSTANCES)
        self.ct.call(
            t,
            _instance_who(inst, t),
            "ssm.amazonaws.com",
            "GetDeployablePatchSnapshotForInstance",
            region=inst.region,
            params={"instanceId": inst.instance_id, "snapshotId": self.rand.uuid()},
            read_only=True,
            error=("ThrottlingException", "Rate exceeded"),
        )

    def instance_credentials(self, t: float) -> None:
        inst = self.rng.choice(_INSTANCES)
        self.ct.assume_role_by_service(
            t, "ec2.amazonaws.com", inst.iam_role, inst.instance_id, inst.region
        )

    def lambda_work(self, t: float) -> None:
        created = t - (t % 3600) - 40
        ident = _role_session("order-processor-role", "order-processor", created)
        who = _Who(ident, "3.236.40.17", _UA_BOTO.format(env="AWS_Lambda_python3.12"))
        secret = f"arn:aws:secretsmanager:{US}:{ACCOUNT_ID}:secret:prod/orders/db-AbC12d"
        choice = self.rng.random()
        if choice < 0.45:
            self.ct.call(
                t,
                who,
                "secretsmanager.amazonaws.com",
                "GetSecretValue",
                params={"secretId": secret},
                read_only=True,
            )
            self.ct.call(
                t,
                _Who(
                    {**ident, "invokedBy": "secretsmanager.amazonaws.com"},
                    "secretsmanager.amazonaws.com",
                    "secretsmanager.amazonaws.com",
                ),
                "kms.amazonaws.com",
                "Decrypt",
                params={
                    "encryptionContext": {"SecretARN": secret, "SecretVersionId": self.rand.uuid()},
                    "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
                },
                read_only=True,
                resources=[{"accountId": ACCOUNT_ID, "type": "AWS::KMS::Key", "ARN": KMS_KEY_ARN}],
            )
        elif choice < 0.75:
            self.ct.call(
                t,
                who,
                "dynamodb.amazonaws.com",
                "DescribeTable",
                params={"tableName": "orders"},
                read_only=True,
                resources=[
                    {
                        "accountId": ACCOUNT_ID,
                        "type": "AWS::DynamoDB::Table",
                        "ARN": f"arn:aws:dynamodb:{US}:{ACCOUNT_ID}:table/orders",
                    }
                ],
            )
        elif choice < 0.95:
            day = time.strftime("%Y/%m/%d", time.gmtime(t))
            self.ct.call(
                t,
                who,
                "logs.amazonaws.com",
                "CreateLogStream",
                params={
                    "logGroupName": "/aws/lambda/order-processor",
                    "logStreamName": f"{day}/[$LATEST]{self.rand.hex(32)}",
                },
                read_only=False,
            )
        else:
            self.ct.assume_role_by_service(
                t, "lambda.amazonaws.com", "order-processor-role", "order-processor", US
            )

    def api_secrets(self, t: float) -> None:
        who = _instance_who(_API, t, _UA_BOTO.format(env="EC2"))
        if self.rng.random() < 0.7:
            self.ct.call(
                t,
                who,
                "secretsmanager.amazonaws.com",
                "GetSecretValue",
                params={"secretId": "prod/api/stripe"},
                read_only=True,
            )
        else:
            self.ct.call(
                t, who, "sts.amazonaws.com", "GetCallerIdentity", params=None, read_only=True
            )

    def config_recorder(self, t: float) -> None:
        region = US if self.rng.random() < 0.7 else EU
        created = t - (t % 3600) - 10
        ident = _role_session(
            "AWSServiceRoleForConfig",
            "AWSConfig-Describe",
            created,
            path="aws-service-role/config.amazonaws.com/",
            invoked_by="config.amazonaws.com",
        )
        who = _Who(ident, "config.amazonaws.com", "config.amazonaws.com")
        what = self.rng.randrange(5)
        if what == 0:
            self.ct.call(
                t,
                who,
                "ec2.amazonaws.com",
                "DescribeInstances",
                region=region,
                params={
                    "instancesSet": {
                        "items": [{"instanceId": self.rng.choice(_INSTANCES).instance_id}]
                    },
                    "filterSet": {},
                    "includeAllInstances": False,
                },
                read_only=True,
            )
        elif what == 1:
            self.ct.call(
                t,
                who,
                "ec2.amazonaws.com",
                "DescribeSecurityGroups",
                region=region,
                params={"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {}},
                read_only=True,
            )
        elif what == 2:
            self.ct.call(
                t,
                who,
                "ec2.amazonaws.com",
                "DescribeNetworkInterfaces",
                region=region,
                params={
                    "networkInterfaceIdSet": {
                        "items": [{"networkInterfaceId": self.rng.choice(_INSTANCES).eni}]
                    },
                    "filterSet": {},
                },
                read_only=True,
            )
        elif what == 3:
            self.ct.call(
                t,
                who,
                "iam.amazonaws.com",
                "GetRole",
                region=US,
                params={
                    "roleName": self.rng.choice(
                        ("web-server", "api-server", "ci-runner", "order-processor-role")
                    )
                },
                read_only=True,
            )
        else:
            self.ct.call(
                t,
                who,
                "config.amazonaws.com",
                "PutEvaluations",
                region=region,
                params={
                    "evaluations": [
                        {
                            "complianceResourceType": "AWS::EC2::Instance",
                            "complianceResourceId": self.rng.choice(_INSTANCES).instance_id,
                            "complianceType": "COMPLIANT",
                            "orderingTimestamp": _aws_date(t - 60),
                        }
                    ],
                    "resultToken": self.rand.token(48),
                    "testMode": False,
                },
                read_only=False,
            )

    def trail_kms(self, t: float) -> None:
        region = self.rng.choice(REGIONS)
        key = time.strftime(f"AWSLogs/{ACCOUNT_ID}/CloudTrail/{region}/%Y/%m/%d/", time.gmtime(t))
        self.ct.call(
            t,
            _Who(
                _service("cloudtrail.amazonaws.com"),
                "cloudtrail.amazonaws.com",
                "cloudtrail.amazonaws.com",
            ),
            "kms.amazonaws.com",
            "GenerateDataKey",
            region=US,
            params={
                "keyId": KMS_KEY_ARN,
                "encryptionContext": {
                    "aws:cloudtrail:arn": TRAIL_ARN,
                    "aws:s3:arn": f"arn:aws:s3:::{BUCKET}/{key}",
                },
                "keySpec": "AES_256",
            },
            read_only=True,
            resources=[{"accountId": ACCOUNT_ID, "type": "AWS::KMS::Key", "ARN": KMS_KEY_ARN}],
            shared=True,
        )

    # -- people

    def alice_console(self, t: float) -> None:
        created = t - (t % 3600) - 900
        ident = _iam_user("alice.ops", _key_id("ASIA", "alice-console", created))
        ident["sessionContext"] = {
            "attributes": {"creationDate": _iso(created), "mfaAuthenticated": "true"}
        }
        who = _Who(ident, OFFICE_IP, "AWS Internal", console=True)
        region = US if self.rng.random() < 0.75 else EU
        pick = self.rng.randrange(12)
        if pick == 0 and self.rng.random() < 0.3:
            ident_login = _iam_user("alice.ops", "")
            del ident_login["accessKeyId"]
            self.ct.call(
                t,
                _Who(ident_login, OFFICE_IP, _UA_BROWSER),
                "signin.amazonaws.com",
                "ConsoleLogin",
                params=None,
                response={"ConsoleLogin": "Success"},
                extra={
                    "LoginTo": _LOGIN_TO + self.rand.hex(16),
                    "MobileVersion": "No",
                    "MFAIdentifier": f"arn:aws:iam::{ACCOUNT_ID}:mfa/alice-phone",
                    "MFAUsed": "Yes",
                },
                read_only=False,
                event_type="AwsConsoleSignIn",
            )
        elif pick <= 2:
            self.ct.call(
                t,
                who,
                "ec2.amazonaws.com",
                "DescribeInstances",
                region=region,
                params={"maxResults": 1000, "instancesSet": {}, "filterSet": {}},
                read_only=True,
                agent="console.ec2.amazonaws.com",
            )
        elif pick == 3:
            self.ct.call(
                t,
                who,
                "ec2.amazonaws.com",
                "DescribeSecurityGroups",
                region=region,
                params={
                    "securityGroupSet": {},
                    "securityGroupIdSet": {},
                    "filterSet": {
                        "items": [
                            {
                                "name": "vpc-id",
                                "valueSet": {
                                    "items": [{"value": _US_VPC if region == US else _EU_VPC}]
                                },
                            }
                        ]
                    },
                },
                read_only=True,
                agent="console.ec2.amazonaws.com",
            )
        elif pick == 4:
            self.ct.call(
                t,
                who,
                "monitoring.amazonaws.com",
                "DescribeAlarms",
                region=region,
                params={"maxRecords": 100, "alarmTypes": ["CompositeAlarm", "MetricAlarm"]},
                read_only=True,
            )
        elif pick == 5:
            self.ct.call(
                t, who, "iam.amazonaws.com", "ListRoles", params={"maxItems": 1000}, read_only=True
            )
        elif pick == 6:
            self.ct.call(
                t, who, "iam.amazonaws.com", "GetAccountSummary", params=None, read_only=True
            )
        elif pick == 7:
            self.ct.call(
                t,
                who,
                "s3.amazonaws.com",
                "ListBuckets",
                params={"Host": "s3.amazonaws.com"},
                extra={
                    "SignatureVersion": "SigV4",
                    "CipherSuite": "TLS_AES_128_GCM_SHA256",
                    "bytesTransferredIn": 0,
                    "AuthenticationMethod": "AuthHeader",
                    "x-amz-id-2": self.rand.token(54),
                    "bytesTransferredOut": 1874,
                },
                read_only=True,
            )
        elif pick == 8:
            self.ct.call(
                t,
                who,
                "cloudtrail.amazonaws.com",
                "LookupEvents",
                params={
                    "maxResults": 50,
                    "lookupAttributes": [{"attributeKey": "ReadOnly", "attributeValue": "false"}],
                },
                read_only=True,
            )
        elif pick == 9:
            self.ct.call(
                t,
                who,
                "ce.amazonaws.com",
                "GetCostAndUsage",
                params={
                    "timePeriod": {
                        "start": time.strftime("%Y-%m-01", time.gmtime(t)),
                        "end": time.strftime("%Y-%m-%d", time.gmtime(t)),
                    },
                    "granularity": "DAILY",
                    "metrics": ["UnblendedCost"],
                    "filter": {
                        "not": {
                            "dimensions": {"key": "RECORD_TYPE", "values": ["Credit", "Refund"]}
                        }
                    },
                    "groupBy": [{"type": "DIMENSION", "key": "SERVICE"}],
                },
                read_only=True,
            )
        elif pick == 10:
            self.ct.call(
                t,
                who,
                "health.amazonaws.com",
                "DescribeEventAggregates",
                params={
                    "aggregateField": "eventTypeCategory",
                    "filter": {"eventStatusCodes": ["open", "upcoming"]},
                },
                read_only=True,
            )
        else:
            self.ct.call(
                t,
                who,
                "logs.amazonaws.com",
                "FilterLogEvents",
                region=region,
                params={
                    "logGroupName": "/aws/lambda/order-processor",
                    "filterPattern": "ERROR",
                    "startTime": int(t - 3600) * 1000,
                    "interleaved": True,
                },
                read_only=True,
            )

    def bob_cli(self, t: float) -> None:
        pick = self.rng.randrange(5)
        command = (
            "ec2.describe-instances",
            "ssm.start-session",
            "logs.filter-log-events",
            "sts.get-caller-identity",
            "ec2.describe-instances",
        )[pick]
        who = _sso_who(
            _SSO_ADMIN, "bob@example.com", BOB_IP, t, _UA_CLI_BOB.format(command=command)
        )
        if pick in (0, 4):
            self.ct.call(
                t,
                who,
                "ec2.amazonaws.com",
                "DescribeInstances",
                params={
                    "instancesSet": {},
                    "filterSet": {
                        "items": [
                            {
                                "name": "tag:Name",
                                "valueSet": {
                                    "items": [
                                        {"value": self.rng.choice(("web-*", "api-*", "bastion"))}
                                    ]
                                },
                            }
                        ]
                    },
                },
                read_only=True,
            )
        elif pick == 1:
            session = f"bob@example.com-{self.rand.hex(17)}"
            self.ct.call(
                t,
                who,
                "ssm.amazonaws.com",
                "StartSession",
                params={"target": _BASTION.instance_id},
                response={
                    "sessionId": session,
                    "tokenValue": "Value hidden due to security reasons.",
                    "streamUrl": f"wss://ssmmessages.{US}.amazonaws.com/v1/data-channel/{session}?role=publish_subscribe&cell-number={self.rand.token(30)}",
                },
                read_only=False,
                resources=[
                    {
                        "accountId": ACCOUNT_ID,
                        "type": "AWS::EC2::Instance",
                        "ARN": f"arn:aws:ec2:{US}:{ACCOUNT_ID}:instance/{_BASTION.instance_id}",
                    }
                ],
            )
        elif pick == 2:
            self.ct.call(
                t,
                who,
                "logs.amazonaws.com",
                "FilterLogEvents",
                params={
                    "logGroupName": "/prod/api",
                    "filterPattern": "{ $.status = 5* }",
                    "startTime": int(t - 900) * 1000,
                    "endTime": int(t) * 1000,
                },
                read_only=True,
            )
        else:
            self.ct.call(
                t, who, "sts.amazonaws.com", "GetCallerIdentity", params=None, read_only=True
            )

    def carol_readonly(self, t: float) -> None:
        who = _sso_who(
            _SSO_READONLY, "carol@example.com", CAROL_IP, t, "AWS Internal", console=True
        )
        if self.rng.random() < 0.25:
            arn = who.identity["arn"]
            self.ct.call(
                t,
                who,
                "iam.amazonaws.com",
                "GetAccountAuthorizationDetails",
                params=None,
                read_only=True,
                error=(
                    "AccessDenied",
                    f"User: {arn} is not authorized to perform: "
                    "iam:GetAccountAuthorizationDetails on resource: * because no identity-based "
                    "policy allows the iam:GetAccountAuthorizationDetails action",
                ),
            )
        else:
            self.ct.call(
                t,
                who,
                "ec2.amazonaws.com",
                "DescribeVolumes",
                params={"volumeSet": {}, "filterSet": {}, "maxResults": 100},
                read_only=True,
                agent="console.ec2.amazonaws.com",
            )

    def identity_center(self, t: float) -> None:
        ident: Json = {
            "type": "IdentityCenterUser",
            "accountId": ACCOUNT_ID,
            "onBehalfOf": {"userId": _BOB_USER_ID, "identityStoreArn": IDENTITY_STORE},
            "credentialId": base64.urlsafe_b64encode(_digest("bob-portal", t // 28800))
            .decode()
            .rstrip("=")[:40],
        }
        who = _Who(ident, BOB_IP, _UA_BROWSER)
        self.ct.call(t, who, "sso.amazonaws.com", "ListAccounts", params=None, read_only=True)
        self.ct.call(
            t + 2,
            who,
            "sso.amazonaws.com",
            "GetRoleCredentials",
            params={"accountId": ACCOUNT_ID, "roleName": "AdministratorAccess"},
            read_only=True,
        )

    def ci_deploy(self, t: float) -> None:
        """A deployment: the CI user (access key) from the CI runner's address."""
        ident = _iam_user("ci-deploy", _CI_KEY)
        ip = _RUNNER.public_ip or ""
        cli = _Who(ident, ip, _UA_CLI_CI.format(command="sts.get-caller-identity"))
        self.ct.call(t, cli, "sts.amazonaws.com", "GetCallerIdentity", params=None, read_only=True)

        def tf(api: str) -> _Who:
            return _Who(ident, ip, _UA_TERRAFORM.format(api=api))

        stack_id = "shop-api/7d3e1c40-8a2b-11ef-9c41-0e8f5b3d2a17"
        stack = f"arn:aws:cloudformation:{US}:{ACCOUNT_ID}:stack/{stack_id}"
        change_set = f"deploy-{self.rand.hex(8)}"
        steps: list[tuple[str, str, Json | None, bool, str]] = [
            ("ecr.amazonaws.com", "GetAuthorizationToken", None, True, "ecr"),
            (
                "cloudformation.amazonaws.com",
                "DescribeStacks",
                {"stackName": "shop-api"},
                True,
                "cloudformation",
            ),
            (
                "cloudformation.amazonaws.com",
                "CreateChangeSet",
                {
                    "stackName": "shop-api",
                    "changeSetName": change_set,
                    "changeSetType": "UPDATE",
                    "templateURL": f"https://s3.amazonaws.com/shop-deploy-artifacts/{self.rand.hex(32)}.template",
                    "capabilities": ["CAPABILITY_IAM"],
                    "parameters": [
                        {"parameterKey": "ImageTag", "parameterValue": self.rand.hex(7)}
                    ],
                },
                False,
                "cloudformation",
            ),
            (
                "cloudformation.amazonaws.com",
                "DescribeChangeSet",
                {"changeSetName": change_set, "stackName": "shop-api"},
                True,
                "cloudformation",
            ),
            (
                "cloudformation.amazonaws.com",
                "ExecuteChangeSet",
                {"changeSetName": change_set, "stackName": "shop-api"},
                False,
                "cloudformation",
            ),
            (
                "cloudformation.amazonaws.com",
                "DescribeStackEvents",
                {"stackName": stack},
                True,
                "cloudformation",
            ),
            (
                "lambda.amazonaws.com",
                "UpdateFunctionCode20150331v2",
                {
                    "functionName": "order-processor",
                    "s3Bucket": "shop-deploy-artifacts",
                    "s3Key": f"order-processor/{self.rand.hex(12)}.zip",
                    "publish": True,
                    "dryRun": False,
                },
                False,
                "lambda",
            ),
            (
                "lambda.amazonaws.com",
                "GetFunction20150331v2",
                {"functionName": "order-processor"},
                True,
                "lambda",
            ),
        ]
        tt = t
        for source, name, params, ro, api in steps:
            tt += self.rng.uniform(2, 40)
            response: Json | None = None
            if name == "CreateChangeSet":
                response = {
                    "id": f"arn:aws:cloudformation:{US}:{ACCOUNT_ID}:changeSet/"
                    f"{change_set}/{self.rand.uuid()}",
                    "stackId": stack,
                }
            elif name == "UpdateFunctionCode20150331v2":
                response = {
                    "functionName": "order-processor",
                    "functionArn": f"arn:aws:lambda:{US}:{ACCOUNT_ID}:function:order-processor",
                    "runtime": "python3.12",
                    "role": f"arn:aws:iam::{ACCOUNT_ID}:role/order-processor-role",
                    "handler": "app.handler",
                    "codeSize": self.rng.randrange(4_000_000, 6_000_000),
                    "timeout": 30,
                    "memorySize": 512,
                    "lastModified": _iso(tt).replace("Z", ".000+0000"),
                    "codeSha256": self.rand.token(32),
                    "version": str(self.rng.randrange(40, 400)),
                    "tracingConfig": {"mode": "PassThrough"},
                    "revisionId": self.rand.uuid(),
                    "state": "Active",
                    "lastUpdateStatus": "InProgress",
                    "architectures": ["arm64"],
                    "ephemeralStorage": {"size": 512},
                }
            self.ct.call(tt, tf(api), source, name, params=params, response=response, read_only=ro)


# --------------------------------------------------------------------------- flows


@dataclass(slots=True)
class _Flow:
    eni: _Instance
    start: int
    end: int
    src: str
    dst: str
    sport: int
    dport: int
    proto: int
    packets: int
    bytes: int
    action: str
    flags: int
    direction: str  # ingress / egress (from the ENI's side)
    status: str = "OK"


class _Flows:
    """Flow records per ENI, built from connections."""

    def __init__(self, rand: _Rand) -> None:
        self.rand = rand
        self.rng = rand.rng
        self.records: list[_Flow] = []

    def rec(
        self,
        eni: _Instance,
        t: float,
        src: str,
        dst: str,
        sport: int,
        dport: int,
        proto: int,
        packets: int,
        size: int,
        action: str,
        flags: int,
        direction: str,
    ) -> None:
        start = int(t)
        end = start + min(60, max(0, int(self.rng.expovariate(1 / 15))))
        self.records.append(
            _Flow(
                eni,
                start,
                end,
                src,
                dst,
                sport,
                dport,
                proto,
                packets,
                size,
                action,
                flags,
                direction,
            )
        )

    def tcp(
        self,
        eni: _Instance,
        t: float,
        *,
        local: str,
        remote: str,
        lport: int,
        rport: int,
        inbound: bool,
        up: tuple[int, int],
        down: tuple[int, int],
    ) -> None:
        """A TCP connection as seen by ``eni``: one record each way.

        ``inbound``: the remote side opened it.  ``up``/``down`` are (packets, bytes)
        sent from the client and from the server side.
        """
        if inbound:
            self.rec(eni, t, remote, local, rport, lport, 6, *up, "ACCEPT", 3, "ingress")
            self.rec(eni, t, local, remote, lport, rport, 6, *down, "ACCEPT", 19, "egress")
        else:
            self.rec(eni, t, local, remote, lport, rport, 6, *up, "ACCEPT", 3, "egress")
            self.rec(eni, t, remote, local, rport, lport, 6, *down, "ACCEPT", 19, "ingress")

    def internal(
        self,
        client: _Instance,
        server: _Instance,
        t: float,
        port: int,
        up: tuple[int, int],
        down: tuple[int, int],
    ) -> None:
        """Between two of our instances: both interfaces log it."""
        sport = self.rand.ephemeral()
        self.tcp(
            client,
            t,
            local=client.private_ip,
            remote=server.private_ip,
            lport=sport,
            rport=port,
            inbound=False,
            up=up,
            down=down,
        )
        self.tcp(
            server,
            t,
            local=server.private_ip,
            remote=client.private_ip,
            lport=port,
            rport=sport,
            inbound=True,
            up=up,
            down=down,
        )

    def outbound(
        self,
        inst: _Instance,
        t: float,
        remote: str,
        port: int,
        up: tuple[int, int],
        down: tuple[int, int],
    ) -> None:
        """To the internet; through the NAT gateway for instances without a public IP."""
        sport = self.rand.ephemeral()
        self.tcp(
            inst,
            t,
            local=inst.private_ip,
            remote=remote,
            lport=sport,
            rport=port,
            inbound=False,
            up=up,
            down=down,
        )
        if inst.public_ip is None:
            # the NAT gateway's interface sees both legs, each way
            nat, nport = _NAT.private_ip, self.rng.randrange(1024, 65536)
            self.rec(_NAT, t, inst.private_ip, remote, sport, port, 6, *up, "ACCEPT", 3, "ingress")
            self.rec(_NAT, t, nat, remote, nport, port, 6, *up, "ACCEPT", 3, "egress")
            self.rec(_NAT, t, remote, nat, port, nport, 6, *down, "ACCEPT", 19, "ingress")
            self.rec(
                _NAT, t, remote, inst.private_ip, port, sport, 6, *down, "ACCEPT", 19, "egress"
            )

    def probe(self, eni: _Instance, t: float, src: str, port: int) -> None:
        """Internet noise: one rejected probe."""
        r = self.rng.random()
        proto = 1 if r < 0.08 else (17 if port in (123, 161, 5060) else 6)
        dport = 0 if proto == 1 else port
        sport = 0 if proto == 1 else self.rand.client_port()
        self.rec(
            eni,
            t,
            src,
            eni.private_ip,
            sport,
            dport,
            proto,
            1,
            self.rng.choice((40, 44, 60)),
            "REJECT",
            2 if proto == 6 else 0,
            "ingress",
        )


class _Traffic:
    """Everyday traffic in both VPCs."""

    def __init__(self, flows: _Flows, rand: _Rand) -> None:
        self.f = flows
        self.rand = rand
        self.rng = rand.rng
        self.clients = _ip_pool(self.rng, _CLIENT_OCTETS, 900)
        self.scanners = _ip_pool(self.rng, _SCANNER_OCTETS, 120)

    def client(self) -> str:
        return self.clients[int(len(self.clients) * self.rng.random() ** 2)]

    def pair(self, lo: int, hi: int, per: tuple[int, int]) -> tuple[int, int]:
        p = self.rng.randrange(lo, hi)
        return p, p * self.rng.randrange(*per)

    def aws(self, inst: _Instance, t: float, service: str) -> None:
        ip = self.rng.choice(_AWS_ENDPOINTS[service][inst.region])
        self.f.outbound(inst, t, ip, 443, self.pair(4, 20, (90, 400)), self.pair(4, 18, (100, 900)))

    def window(self, w: float) -> None:
        load, office = _load(w), _office(w)

        def at() -> float:
            return w + self.rng.uniform(0, FLOW_PERIOD)

        for web in (_WEB1, _WEB2, _EU_WEB):
            scale = 0.4 if web is _EU_WEB else 1.0
            for _ in range(_poisson(self.rng, 9 * load * scale)):
                port = 443 if self.rng.random() < 0.93 else 80
                self.f.tcp(
                    web,
                    at(),
                    local=web.private_ip,
                    remote=self.client(),
                    lport=port,
                    rport=self.rand.client_port(),
                    inbound=True,
                    up=self.pair(5, 40, (60, 400)),
                    down=self.pair(6, 120, (400, 1400)),
                )
            if web is not _EU_WEB:
                for _ in range(_poisson(self.rng, 3 * load)):
                    self.f.internal(
                        web,
                        _API,
                        at(),
                        8080,
                        self.pair(4, 30, (100, 600)),
                        self.pair(4, 40, (200, 1400)),
                    )
            for _ in range(_poisson(self.rng, 1.2)):
                self.aws(web, at(), self.rng.choice(("ssm", "ec2messages", "logs")))
            for _ in range(_poisson(self.rng, 1.5)):
                self.f.probe(
                    web, at(), self.rng.choice(self.scanners), self.rng.choice(_NOISE_PORTS)
                )
        # the API server: a pool of database connections, AWS APIs, payment provider
        for _ in range(_poisson(self.rng, 1.5)):
            self.f.internal(
                _API,
                _DB,
                at(),
                5432,
                self.pair(200, 2500, (80, 300)),
                self.pair(200, 3000, (150, 1400)),
            )
        for _ in range(_poisson(self.rng, 1.5 * load)):
            self.aws(_API, at(), self.rng.choice(("sqs", "secretsmanager", "ssm", "logs")))
        for _ in range(_poisson(self.rng, 1.2 * load)):
            self.f.outbound(
                _API,
                at(),
                self.rng.choice(_INTERNET["api.stripe.com."]),
                443,
                self.pair(8, 20, (100, 500)),
                self.pair(8, 20, (200, 1400)),
            )
        for _ in range(_poisson(self.rng, 0.4)):
            self.aws(_DB, at(), self.rng.choice(("s3", "ssm")))
        # the bastion: people from the office during the day, quiet at night
        for _ in range(_poisson(self.rng, 1.5 * office)):
            t = at()
            self.f.tcp(
                _BASTION,
                t,
                local=_BASTION.private_ip,
                remote=OFFICE_IP,
                lport=22,
                rport=self.rand.client_port(),
                inbound=True,
                up=self.pair(40, 600, (60, 120)),
                down=self.pair(40, 800, (80, 600)),
            )
            self.f.internal(
                _BASTION,
                self.rng.choice((_API, _DB)),
                t + 5,
                22,
                self.pair(30, 400, (60, 120)),
                self.pair(30, 500, (80, 600)),
            )
        for _ in range(_poisson(self.rng, 0.2)):
            self.f.probe(_BASTION, at(), self.rng.choice(self.scanners), 22)
        # the CI runner: builds during office hours
        for _ in range(_poisson(self.rng, 0.8 * office + 0.05)):
            t = at()
            for name in (
                "github.com.",
                "codeload.github.com.",
                "pypi.org.",
                "files.pythonhosted.org.",
                "registry-1.docker.io.",
                "production.cloudflare.docker.com.",
            ):
                self.f.outbound(
                    _RUNNER,
                    t + self.rng.uniform(0, 60),
                    self.rng.choice(_INTERNET[name]),
                    443,
                    self.pair(20, 300, (60, 200)),
                    self.pair(40, 3000, (1200, 1450)),
                )
            self.aws(_RUNNER, t + 90, "s3")
        for _ in range(_poisson(self.rng, 0.6)):
            self.aws(_RUNNER, at(), "ssm")
        # eu-west-1: the worker reads queues and writes to S3, and calls the web server
        for _ in range(_poisson(self.rng, 2.0 * load)):
            self.aws(_EU_WORKER, at(), self.rng.choice(("sqs", "s3", "ssm")))
        for _ in range(_poisson(self.rng, 1.0 * load)):
            self.f.internal(
                _EU_WORKER,
                _EU_WEB,
                at(),
                8443,
                self.pair(4, 20, (100, 400)),
                self.pair(4, 30, (200, 1400)),
            )
        if self.rng.random() < 0.004:
            self.f.records.append(
                _Flow(
                    _EU_WORKER,
                    int(w),
                    int(w + FLOW_PERIOD - 1),
                    "-",
                    "-",
                    0,
                    0,
                    0,
                    0,
                    0,
                    "-",
                    0,
                    "-",
                    "SKIPDATA",
                )
            )


# --------------------------------------------------------------------------- DNS


def _answers(name: str, qtype: str, region: str) -> tuple[str, list[Json]]:
    """(rcode, answers) for a query."""

    def a(ips: Sequence[str]) -> list[Json]:
        return [{"Rdata": ip, "Type": "A", "Class": "IN"} for ip in ips]

    if name in _PRIVATE_ZONE:
        return "NOERROR", a([_PRIVATE_ZONE[name]]) if qtype == "A" else []
    if name.endswith(".amazonaws.com."):
        svc = name.split(".", 1)[0]
        ips = _AWS_ENDPOINTS.get(svc, {}).get(region)
        if not ips:
            return "NXDOMAIN", []
        return "NOERROR", a(ips) if qtype == "A" else []
    if name in _INTERNET:
        out: list[Json] = []
        if name in _CNAMES:
            out.append({"Rdata": _CNAMES[name], "Type": "CNAME", "Class": "IN"})
        if qtype == "A":
            out += a(_INTERNET[name])
        return "NOERROR", out
    if name.endswith(".in-addr.arpa."):
        return "NXDOMAIN", []
    return "NXDOMAIN", []


class _Dns:
    """Resolver query log records per VPC."""

    _ROLE_NAMES: Final[dict[str, tuple[tuple[str, float], ...]]] = {
        "web": (
            ("logs.{r}.amazonaws.com.", 3),
            ("api.prod.internal.", 14),
            ("sts.{r}.amazonaws.com.", 1),
        ),
        "api": (
            ("db.prod.internal.", 5),
            ("secretsmanager.{r}.amazonaws.com.", 2),
            ("sqs.{r}.amazonaws.com.", 6),
            ("api.stripe.com.", 5),
            ("hooks.slack.com.", 1),
            ("o450123.ingest.sentry.io.", 1),
        ),
        "db": (("s3.{r}.amazonaws.com.", 1),),
        "bastion": (("api.prod.internal.", 0.5), ("db.prod.internal.", 0.5)),
        "runner": (("s3.{r}.amazonaws.com.", 0.5), ("build-cache.ec2.internal.", 0.3)),
        "worker": (("sqs.{r}.amazonaws.com.", 8), ("s3.{r}.amazonaws.com.", 3)),
    }
    _BUILD_NAMES: Final = (
        "github.com.",
        "api.github.com.",
        "codeload.github.com.",
        "objects.githubusercontent.com.",
        "pypi.org.",
        "files.pythonhosted.org.",
        "registry-1.docker.io.",
        "auth.docker.io.",
        "production.cloudflare.docker.com.",
    )

    def __init__(self, rand: _Rand) -> None:
        self.rand = rand
        self.rng = rand.rng
        self.records: dict[str, list[tuple[float, Json]]] = {_US_VPC: [], _EU_VPC: []}

    def query(
        self,
        inst: _Instance,
        t: float,
        name: str,
        qtype: str = "A",
        *,
        answers: list[Json] | None = None,
        rcode: str | None = None,
    ) -> None:
        if answers is None or rcode is None:
            rcode, answers = _answers(name, qtype, inst.region)
        rec: Json = {
            "version": "1.100000",
            "account_id": ACCOUNT_ID,
            "region": inst.region,
            "vpc_id": inst.vpc,
            "query_timestamp": _iso(t),
            "query_name": name,
            "query_type": qtype,
            "query_class": "IN",
            "rcode": rcode,
            "answers": answers,
            "srcaddr": inst.private_ip,
            "srcport": str(self.rand.ephemeral()),
            "transport": "UDP" if self.rng.random() < 0.97 else "TCP",
            "srcids": {"instance": inst.instance_id},
        }
        if name in _FIREWALL and inst.vpc == _US_VPC:
            action, domain_list = _FIREWALL[name]
            if action == "BLOCK":
                rec["rcode"], rec["answers"] = "NXDOMAIN", []
            rec["firewall_rule_action"] = action
            rec["firewall_rule_group_id"] = _FIREWALL_GROUP
            rec["firewall_domain_list_id"] = domain_list
        self.records[inst.vpc].append((t, rec))

    def lookup(self, inst: _Instance, t: float, name: str) -> None:
        """A name looked up as glibc does: A, and often AAAA beside it."""
        self.query(inst, t, name, "A")
        if self.rng.random() < 0.35:
            self.query(inst, t, name, "AAAA")

    def window(self, w: float) -> None:
        load, office = _load(w), _office(w)
        hours = DNS_PERIOD / 3600

        def at() -> float:
            return w + self.rng.uniform(0, DNS_PERIOD)

        for inst in _INSTANCES:
            r = inst.region
            for svc, rate in (("ssm", 3.0), ("ec2messages", 3.0), ("ssmmessages", 1.0)):
                for _ in range(_poisson(self.rng, rate * hours)):
                    self.lookup(inst, at(), f"{svc}.{r}.amazonaws.com.")
            for name, rate in self._ROLE_NAMES[inst.role]:
                scale = load if inst.role in ("web", "api", "worker") else 1.0
                for _ in range(_poisson(self.rng, rate * hours * scale)):
                    self.lookup(inst, at(), name.format(r=r))
        for _ in range(_poisson(self.rng, 0.8 * office * hours * 4)):
            t = at()
            for name in self._BUILD_NAMES:
                self.lookup(_RUNNER, t + self.rng.uniform(0, 30), name)
        if self.rng.random() < 0.02 * office:
            self.lookup(_RUNNER, at(), "pastebin.com.")
        if self.rng.random() < 0.01:
            self.query(_RUNNER, at(), "transfer.sh.")
        for _ in range(_poisson(self.rng, 0.6 * office * hours)):
            ip = self.rng.choice((OFFICE_IP, "81.2.69.142"))
            self.query(_BASTION, at(), ".".join(reversed(ip.split("."))) + ".in-addr.arpa.", "PTR")


# --------------------------------------------------------------------------- the attacks


class _Story:
    """The attacks and near misses, placed at fixed fractions of the sampled period."""

    def __init__(
        self, t0: float, t1: float, ct: _CloudTrail, flows: _Flows, dns: _Dns, rand: _Rand
    ) -> None:
        self.t0, self.t1 = t0, t1
        self.ct, self.flows, self.dns = ct, flows, dns
        self.rand = rand
        self.rng = rand.rng
        self.attacks: list[EmbeddedAttack] = []
        self.near: list[NearMiss] = []

    def at(self, fraction: float, align: int = 60) -> float:
        t = self.t0 + (self.t1 - self.t0) * fraction
        return t - t % align

    def attack(
        self,
        name: str,
        finding: str,
        log: SampleLogType,
        region: str,
        first: float,
        last: float,
        resource: str,
        actor: str,
        text: str,
        intel: bool = False,
    ) -> None:
        self.attacks.append(
            EmbeddedAttack(
                name,
                finding,
                log,
                region,
                _dt(int(first)),  # logs keep whole seconds
                _dt(int(last)),
                resource,
                actor,
                text,
                intel,
            )
        )

    def miss(
        self, name: str, finding: str, log: SampleLogType, region: str, t: float, text: str
    ) -> None:
        self.near.append(NearMiss(name, finding, log, region, _dt(int(t)), text))

    def run(self) -> None:
        self.root_near_miss(self.at(0.10) + 7 * 60 + 13)
        self.harmless_trail_update(self.at(0.15) + 11 * 60 + 42)
        self.root_login(self.at(0.35) + 3 * 60 + 8)
        self.web_burst(self.at(0.40, FLOW_PERIOD) + 60)
        self.bad_ip_probe(self.at(0.45) + 17)
        self.trail_tampering(self.at(0.52) + 26 * 60 + 4)
        self.port_scan(self.at(0.60, FLOW_PERIOD) + 95)
        self.rebind(self.at(0.70) + 31)
        self.c2(self.at(0.80) + 9 * 60 + 2)
        self.normal_dns(self.at(0.72) + 44)

    def tor_calls(self) -> None:
        """The attacker's address is on the demo's Tor list: its calls are Tor findings too."""
        calls = sorted(
            (t, r)
            for region in REGIONS
            for t, r in self.ct.records[region]
            if r.get("sourceIPAddress") == ATTACKER_IP
        )
        for recon in (True, False):
            mine = [
                (t, r)
                for t, r in calls
                if r["eventName"].startswith(("List", "Describe", "Get")) == recon
            ]
            if not mine:
                continue
            kind = "Recon" if recon else "UnauthorizedAccess"
            self.attack(
                f"tor-{'recon' if recon else 'api'}-calls",
                f"{kind}:IAMUser/TorIPCaller",
                "cloudtrail",
                mine[0][1]["awsRegion"],
                mine[0][0],
                mine[-1][0],
                str(mine[0][1]["userIdentity"].get("accessKeyId") or ""),
                ATTACKER_IP,
                f"{len(mine)} {'reconnaissance ' if recon else ''}calls from {ATTACKER_IP}, "
                "a Tor exit node on the demo's Tor list.",
                intel=True,
            )

    # -- (a) root credentials

    def root_near_miss(self, t: float) -> None:
        who = _Who(
            _root(None, invoked_by="support.amazonaws.com"),
            "support.amazonaws.com",
            "support.amazonaws.com",
        )
        self.ct.call(t, who, "iam.amazonaws.com", "GetAccountSummary", params=None, read_only=True)
        self.ct.call(
            t + 1, who, "iam.amazonaws.com", "ListAccountAliases", params=None, read_only=True
        )
        self.miss(
            "root-invoked-by-service",
            "Policy:IAMUser/RootCredentialUsage",
            "cloudtrail",
            US,
            t,
            "Calls AWS Support made with the root identity on the account's behalf "
            "(userIdentity.invokedBy is set).",
        )

    def root_login(self, t: float) -> None:
        login = _Who(_root(None), ATTACKER_IP, _UA_ATTACKER_BROWSER)
        self.ct.call(
            t,
            login,
            "signin.amazonaws.com",
            "ConsoleLogin",
            params=None,
            response={"ConsoleLogin": "Success"},
            extra={
                "LoginTo": _LOGIN_TO + self.rand.hex(16),
                "MobileVersion": "No",
                "MFAUsed": "No",
            },
            read_only=False,
            event_type="AwsConsoleSignIn",
        )
        key = _key_id("ASIA", "root-console", t)
        who = _Who(_root(t, key), ATTACKER_IP, "AWS Internal", console=True)
        new_key = _key_id("AKIA", "root-key", t)
        calls: list[tuple[float, str, str, str, Json | None, Json | None, bool]] = [
            (70, US, "iam.amazonaws.com", "GetAccountSummary", None, None, True),
            (95, US, "iam.amazonaws.com", "ListUsers", {"maxItems": 1000}, None, True),
            (
                160,
                US,
                "iam.amazonaws.com",
                "CreateAccessKey",
                None,
                {
                    "accessKey": {
                        "accessKeyId": new_key,
                        "status": "Active",
                        "createDate": _aws_date(t + 160),
                    }
                },
                False,
            ),
            (
                240,
                US,
                "ec2.amazonaws.com",
                "DescribeRegions",
                {"regionSet": {}, "allRegions": True},
                None,
                True,
            ),
            (
                300,
                EU,
                "ec2.amazonaws.com",
                "DescribeInstances",
                {"instancesSet": {}, "filterSet": {}},
                None,
                True,
            ),
        ]
        last = t
        for dt, region, source, name, params, response, ro in calls:
            last = t + dt
            self.ct.call(
                last,
                who,
                source,
                name,
                region=region,
                params=params,
                response=response,
                read_only=ro,
            )
        self.attack(
            "root-credential-usage",
            "Policy:IAMUser/RootCredentialUsage",
            "cloudtrail",
            US,
            t,
            last,
            key,
            ATTACKER_IP,
            "The root user signs in to the console without MFA from an unfamiliar address, "
            "creates a root access key and looks around (also in eu-west-1).",
        )

    # -- (b) CloudTrail tampering

    def harmless_trail_update(self, t: float) -> None:
        ident = _iam_user("alice.ops", _ALICE_KEY)
        who = _Who(
            ident,
            OFFICE_IP,
            _UA_CLI_BOB.replace("os/macos#23.6.0", "os/linux#6.8.0").format(
                command="cloudtrail.update-trail"
            ),
        )
        self.ct.call(
            t,
            who,
            "cloudtrail.amazonaws.com",
            "UpdateTrail",
            params={
                "name": TRAIL,
                "enableLogFileValidation": True,
                "includeGlobalServiceEvents": True,
            },
            response=_trail_response(TRAIL, BUCKET, multi_region=True),
            read_only=False,
        )
        self.ct.call(
            t + 48,
            who,
            "cloudtrail.amazonaws.com",
            "AddTags",
            params={
                "resourceId": TRAIL_ARN,
                "tagsList": [
                    {"key": "owner", "value": "secops"},
                    {"key": "retention", "value": "400d"},
                ],
            },
            read_only=False,
        )
        self.miss(
            "harmless-trail-update",
            "Stealth:IAMUser/CloudTrailLoggingDisabled",
            "cloudtrail",
            US,
            t,
            "An administrator turns on log file validation and tags the trail.",
        )

    def trail_tampering(self, t: float) -> None:
        ops_arn = f"arn:aws:cloudtrail:{US}:{ACCOUNT_ID}:trail/ops-trail"
        ci = _iam_user("ci-deploy", _CI_KEY)
        bot = _iam_user("reporting-bot", _REPORTING_KEY)

        def cli(ident: Json, command: str) -> _Who:
            return _Who(ident, ATTACKER_IP, _UA_ATTACKER_CLI.format(command=command))

        recon: list[tuple[float, str, str, Json | None, str]] = [
            (-1500, "sts.amazonaws.com", "GetCallerIdentity", None, "sts.get-caller-identity"),
            (
                -1440,
                "iam.amazonaws.com",
                "ListAttachedUserPolicies",
                {"userName": "ci-deploy"},
                "iam.list-attached-user-policies",
            ),
            (
                -1300,
                "cloudtrail.amazonaws.com",
                "DescribeTrails",
                {"includeShadowTrails": True},
                "cloudtrail.describe-trails",
            ),
            (
                -1250,
                "cloudtrail.amazonaws.com",
                "GetTrailStatus",
                {"name": ops_arn},
                "cloudtrail.get-trail-status",
            ),
        ]
        for dt, source, name, params, cmd in recon:
            self.ct.call(t + dt, cli(ci, cmd), source, name, params=params, read_only=True)
        # first try with another stolen key, which may not
        denied = t - 600
        self.ct.call(
            denied,
            cli(bot, "cloudtrail.stop-logging"),
            "cloudtrail.amazonaws.com",
            "StopLogging",
            params={"name": ops_arn},
            read_only=False,
            error=(
                "AccessDenied",
                f"User: arn:aws:iam::{ACCOUNT_ID}:user/reporting-bot is not authorized to perform: "
                f"cloudtrail:StopLogging on resource: {ops_arn} because no identity-based policy "
                "allows the cloudtrail:StopLogging action",
            ),
        )
        self.miss(
            "stop-logging-denied",
            "Stealth:IAMUser/CloudTrailLoggingDisabled",
            "cloudtrail",
            US,
            denied,
            "StopLogging that failed with AccessDenied: nothing was stopped.",
        )
        self.ct.call(
            t,
            cli(ci, "cloudtrail.stop-logging"),
            "cloudtrail.amazonaws.com",
            "StopLogging",
            params={"name": ops_arn},
            read_only=False,
        )
        self.ct.call(
            t + 35 * 60,
            cli(ci, "cloudtrail.delete-trail"),
            "cloudtrail.amazonaws.com",
            "DeleteTrail",
            params={"name": "data-events"},
            read_only=False,
        )
        last = t + 52 * 60
        self.ct.call(
            last,
            cli(ci, "cloudtrail.update-trail"),
            "cloudtrail.amazonaws.com",
            "UpdateTrail",
            params={"name": "ops-trail", "s3BucketName": "ops-trail-archive-7731"},
            response=_trail_response("ops-trail", "ops-trail-archive-7731", multi_region=False),
            read_only=False,
        )
        # an administrator notices, hours later, and starts the trail again
        admin = _Who(
            _iam_user("alice.ops", _ALICE_KEY),
            OFFICE_IP,
            _UA_CLI_BOB.format(command="cloudtrail.start-logging"),
        )
        self.ct.call(
            t + 4 * 3600,
            admin,
            "cloudtrail.amazonaws.com",
            "StartLogging",
            params={"name": ops_arn},
            read_only=False,
        )
        self.attack(
            "cloudtrail-tampering",
            "Stealth:IAMUser/CloudTrailLoggingDisabled",
            "cloudtrail",
            US,
            t,
            last,
            _CI_KEY,
            ATTACKER_IP,
            "With the stolen key of IAM user ci-deploy, the attacker stops trail ops-trail, "
            "deletes trail data-events and points ops-trail at another S3 bucket.",
        )

    # -- (c) port scan

    def web_burst(self, t: float) -> None:
        """Many clients at once: the server's replies go to many (ephemeral) ports."""
        for _ in range(160):
            self.flows.tcp(
                _WEB1,
                t + self.rng.uniform(0, 300),
                local=_WEB1.private_ip,
                remote=_ip_pool(self.rng, _CLIENT_OCTETS, 1)[0],
                lport=443,
                rport=self.rand.client_port(),
                inbound=True,
                up=(self.rng.randrange(1, 4), 180),
                down=(self.rng.randrange(1, 4), 1400),
            )
        self.miss(
            "web-server-replies",
            "Recon:EC2/Portscan",
            "vpcflow",
            US,
            t,
            "web-1 answers 160 clients in five minutes: source port 443 to many "
            "ephemeral destination ports.",
        )

    def port_scan(self, t: float) -> None:
        ports = list(_SCAN_PORTS)
        while len(ports) < 110:
            p = self.rng.randrange(1, 32768)
            if p not in ports:
                ports.append(p)
        self.rng.shuffle(ports)
        last = t
        for i, port in enumerate(ports):
            last = t + i * 2.7 + self.rng.uniform(0, 1.5)
            sport = self.rand.ephemeral()
            if self.rng.random() < 0.55:
                # egress denied by the subnet's network ACL
                self.flows.rec(
                    _RUNNER,
                    last,
                    _RUNNER.private_ip,
                    SCAN_TARGET,
                    sport,
                    port,
                    6,
                    self.rng.randrange(1, 3),
                    60,
                    "REJECT",
                    2,
                    "egress",
                )
            else:
                self.flows.rec(
                    _RUNNER,
                    last,
                    _RUNNER.private_ip,
                    SCAN_TARGET,
                    sport,
                    port,
                    6,
                    self.rng.randrange(1, 3),
                    60,
                    "ACCEPT",
                    2,
                    "egress",
                )
                if port in (22, 80, 443):
                    self.flows.rec(
                        _RUNNER,
                        last,
                        SCAN_TARGET,
                        _RUNNER.private_ip,
                        port,
                        sport,
                        6,
                        1,
                        44,
                        "ACCEPT",
                        18,
                        "ingress",
                    )
                else:
                    self.flows.rec(
                        _RUNNER,
                        last,
                        SCAN_TARGET,
                        _RUNNER.private_ip,
                        port,
                        sport,
                        6,
                        1,
                        40,
                        "ACCEPT",
                        4,
                        "ingress",
                    )
        self.attack(
            "outbound-port-scan",
            "Recon:EC2/Portscan",
            "vpcflow",
            US,
            t,
            last,
            _RUNNER.instance_id,
            SCAN_TARGET,
            f"ci-runner probes {len(ports)} TCP ports of {SCAN_TARGET} in five minutes "
            "(1-2 packets each, most refused by the network ACL).",
        )

    # -- (d) DNS rebinding to the metadata service

    def rebind(self, t: float) -> None:
        self.dns.query(
            _WEB2,
            t,
            REBIND_DOMAIN,
            "A",
            rcode="NOERROR",
            answers=[{"Rdata": "203.0.113.80", "Type": "A", "Class": "IN"}],
        )
        self.dns.query(
            _WEB2,
            t + 3,
            REBIND_DOMAIN,
            "A",
            rcode="NOERROR",
            answers=[{"Rdata": IMDS_IP, "Type": "A", "Class": "IN"}],
        )
        self.attack(
            "metadata-dns-rebind",
            "UnauthorizedAccess:EC2/MetadataDNSRebind",
            "dns",
            US,
            t + 3,
            t + 3,
            _WEB2.instance_id,
            REBIND_DOMAIN.rstrip("."),
            "web-2 (a URL fetch in the web application) resolves a rebinding domain: first to a "
            "public address, then to the instance metadata address.",
        )

    def normal_dns(self, t: float) -> None:
        self.dns.query(_WEB2, t, "api.github.com.", "A")
        self.miss(
            "normal-dns",
            "UnauthorizedAccess:EC2/MetadataDNSRebind",
            "dns",
            US,
            t,
            "web-2 resolves api.github.com to GitHub's addresses.",
        )

    # -- (e) threat-intel: known bad address and C2 domain

    def bad_ip_probe(self, t: float) -> None:
        for i, port in enumerate((22, 23, 2375, 3389, 5900, 6379, 8080)):
            self.flows.rec(
                _EU_WEB,
                t + i * 4,
                THREAT_IP,
                _EU_WEB.private_ip,
                self.rand.client_port(),
                port,
                6,
                1,
                44,
                "REJECT",
                2,
                "ingress",
            )
        self.attack(
            "known-bad-ip-inbound",
            "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom",
            "vpcflow",
            EU,
            t,
            t + 24,
            _EU_WEB.instance_id,
            THREAT_IP,
            f"{THREAT_IP} probes eu-web-1 on seven ports (all rejected).",
            intel=True,
        )

    def c2(self, t: float) -> None:
        self.dns.query(
            _RUNNER,
            t,
            THREAT_DOMAIN + ".",
            "A",
            rcode="NOERROR",
            answers=[{"Rdata": THREAT_IP, "Type": "A", "Class": "IN"}],
        )
        self.attack(
            "c2-domain-query",
            "Backdoor:EC2/C&CActivity.B!DNS",
            "dns",
            US,
            t,
            t,
            _RUNNER.instance_id,
            THREAT_DOMAIN,
            f"ci-runner resolves {THREAT_DOMAIN}.",
            intel=True,
        )
        last = t
        for i in range(20):
            last = t + 5 + i * 60 + self.rng.uniform(0, 4)
            self.flows.outbound(
                _RUNNER,
                last,
                THREAT_IP,
                443 if i % 5 else 8080,
                (self.rng.randrange(4, 8), 420),
                (self.rng.randrange(3, 6), 380),
            )
        self.attack(
            "known-bad-ip-outbound",
            "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom",
            "vpcflow",
            US,
            t + 5,
            last,
            _RUNNER.instance_id,
            THREAT_IP,
            f"ci-runner beacons to {THREAT_IP} every minute for twenty minutes.",
            intel=True,
        )


def _trail_response(name: str, bucket: str, *, multi_region: bool) -> Json:
    return {
        "name": name,
        "s3BucketName": bucket,
        "includeGlobalServiceEvents": True,
        "isMultiRegionTrail": multi_region,
        "trailARN": f"arn:aws:cloudtrail:{US}:{ACCOUNT_ID}:trail/{name}",
        "logFileValidationEnabled": True,
        "isOrganizationTrail": False,
    }


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


# --------------------------------------------------------------------------- writing


def _windows(t0: float, t1: float, period: int) -> Iterator[float]:
    w = t0
    while w < t1:
        yield w
        w += period


def _bucketed(
    items: list[tuple[float, Json]], t0: float, period: int
) -> dict[int, list[tuple[float, Json]]]:
    out: dict[int, list[tuple[float, Json]]] = {}
    for t, rec in sorted(items, key=lambda x: x[0]):
        out.setdefault(int((t - t0) // period), []).append((t, rec))
    return out


def _flow_line(fl: _FlowLog, r: _Flow) -> str:
    eni = r.eni
    nodata = r.status != "OK"
    v: dict[str, object] = {
        "version": 2 if fl.fields is _V2_FIELDS else 5,
        "account-id": ACCOUNT_ID,
        "interface-id": eni.eni,
        "srcaddr": "-" if nodata else r.src,
        "dstaddr": "-" if nodata else r.dst,
        "srcport": "-" if nodata else r.sport,
        "dstport": "-" if nodata else r.dport,
        "protocol": "-" if nodata else r.proto,
        "packets": "-" if nodata else r.packets,
        "bytes": "-" if nodata else r.bytes,
        "start": r.start,
        "end": r.end,
        "action": "-" if nodata else r.action,
        "log-status": r.status,
        "vpc-id": eni.vpc,
        "subnet-id": eni.subnet,
        "instance-id": eni.instance_id or "-",
        "type": "-" if nodata else "IPv4",
        "pkt-srcaddr": "-" if nodata else r.src,
        "pkt-dstaddr": "-" if nodata else r.dst,
        "tcp-flags": "-" if nodata else (r.flags if r.proto == 6 else 0),
        "region": fl.region,
        "flow-direction": "-" if nodata else r.direction,
    }
    return " ".join(str(v[f]) for f in fl.fields)


class _Writer:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.files: list[SampleFile] = []

    def write(
        self, rel: str, data: bytes, log_type: SampleLogType, location: str, events: int
    ) -> None:
        blob = gzip.compress(data, compresslevel=6, mtime=0)
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)
        self.files.append(SampleFile(rel, log_type, location, events, len(blob)))


def _write_cloudtrail(
    w: _Writer, ct: _CloudTrail, t0: float, t1: float, rand: _Rand
) -> dict[str, list[tuple[str, bytes, float, float]]]:
    """Write the log files; return, per region, (key, content, oldest, newest) for digests."""
    delivered: dict[str, list[tuple[str, bytes, float, float]]] = {}
    for region in REGIONS:
        delivered[region] = []
        buckets = _bucketed(ct.records[region], t0, CLOUDTRAIL_PERIOD)
        for idx in sorted(buckets):
            items = buckets[idx]
            # CloudTrail does not keep records in time order within a file
            for i in range(0, len(items) - 1, 7):
                if rand.rng.random() < 0.5:
                    items[i], items[i + 1] = items[i + 1], items[i]
            stamp_t = t0 + (idx + 1) * CLOUDTRAIL_PERIOD + rand.rng.randrange(0, 240)
            name = f"{ACCOUNT_ID}_CloudTrail_{region}_{_stamp(stamp_t)}_{rand.alnum(16)}.json.gz"
            rel = f"AWSLogs/{ACCOUNT_ID}/CloudTrail/{region}/{_day_path(stamp_t)}/{name}"
            data = msgspec.json.encode({"Records": [rec for _, rec in items]})
            w.write(rel, data, "cloudtrail", region, len(items))
            delivered[region].append((rel, data, items[0][0], items[-1][0]))
    return delivered


def _write_digests(
    w: _Writer, delivered: dict[str, list[tuple[str, bytes, float, float]]], t0: float, rand: _Rand
) -> None:
    """Two chained (unsigned) digest files per region, for the first two hours."""
    for region, files in delivered.items():
        previous: tuple[str, bytes] | None = None
        for hour in range(2):
            lo, hi = t0 + hour * 3600, t0 + (hour + 1) * 3600
            logs = [f for f in files if lo <= _rel_time(f[0]) < hi]
            end = hi + 60 + rand.rng.randrange(0, 120)
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(end))
            name = f"{ACCOUNT_ID}_CloudTrail-Digest_{region}_{TRAIL}_{US}_{stamp}.json.gz"
            rel = f"AWSLogs/{ACCOUNT_ID}/CloudTrail-Digest/{region}/{_day_path(end)}/{name}"
            digest: Json = {
                "awsAccountId": ACCOUNT_ID,
                "digestStartTime": _iso(end - 3600),
                "digestEndTime": _iso(end),
                "digestS3Bucket": BUCKET,
                "digestS3Object": rel,
                "digestPublicKeyFingerprint": rand.hex(32),
                "digestSignatureAlgorithm": "SHA256withRSA",
                "newestEventTime": _iso(max((f[3] for f in logs), default=end - 3600)),
                "oldestEventTime": _iso(min((f[2] for f in logs), default=end - 3600)),
                "previousDigestS3Bucket": BUCKET if previous else None,
                "previousDigestS3Object": previous[0] if previous else None,
                "previousDigestHashValue": hashlib.sha256(previous[1]).hexdigest()
                if previous
                else None,
                "previousDigestHashAlgorithm": "SHA-256" if previous else None,
                "previousDigestSignature": None,
                "logFiles": [
                    {
                        "s3Bucket": BUCKET,
                        "s3Object": key,
                        "hashValue": hashlib.sha256(data).hexdigest(),
                        "hashAlgorithm": "SHA-256",
                        "newestEventTime": _iso(newest),
                        "oldestEventTime": _iso(oldest),
                    }
                    for key, data, oldest, newest in logs
                ],
            }
            data = msgspec.json.encode(digest)
            w.write(rel, data, "cloudtrail-digest", region, 0)
            previous = (rel, data)


def _rel_time(rel: str) -> float:
    stamp = rel.rsplit("_", 2)[-2]
    return datetime.strptime(stamp, "%Y%m%dT%H%MZ").replace(tzinfo=UTC).timestamp()


def _write_flows(w: _Writer, flows: _Flows, t0: float, t1: float, rand: _Rand) -> None:
    for fl in _FLOW_LOGS:
        enis = {inst.eni for inst in fl.enis}
        by_window: dict[int, list[_Flow]] = {}
        for r in flows.records:
            if r.eni.eni in enis and t0 <= r.start < t1:
                by_window.setdefault(int((r.start - t0) // FLOW_PERIOD), []).append(r)
        header = " ".join(fl.fields)
        for idx, wstart in enumerate(_windows(t0, t1, FLOW_PERIOD)):
            recs = by_window.get(idx, [])
            seen = {r.eni.eni for r in recs}
            for inst in fl.enis:
                if inst.eni not in seen:  # an interface with no traffic reports NODATA
                    recs.append(
                        _Flow(
                            inst,
                            int(wstart),
                            int(wstart + FLOW_PERIOD - 1),
                            "-",
                            "-",
                            0,
                            0,
                            0,
                            0,
                            0,
                            "-",
                            0,
                            "-",
                            "NODATA",
                        )
                    )
            recs.sort(key=lambda r: (r.eni.eni, r.start))
            lines = [header, *(_flow_line(fl, r) for r in recs)]
            stamp_t = wstart + FLOW_PERIOD + rand.rng.randrange(0, 180)
            stamp = f"{_stamp(stamp_t)}_{rand.hex(8)}"
            name = f"{ACCOUNT_ID}_vpcflowlogs_{fl.region}_{fl.flow_log_id}_{stamp}.log.gz"
            rel = f"AWSLogs/{ACCOUNT_ID}/vpcflowlogs/{fl.region}/{_day_path(stamp_t)}/{name}"
            w.write(rel, ("\n".join(lines) + "\n").encode(), "vpcflow", fl.region, len(recs))


def _write_dns(w: _Writer, dns: _Dns, t0: float, t1: float, rand: _Rand) -> None:
    encoder = msgspec.json.Encoder()
    for vpc, items in dns.records.items():
        buckets = _bucketed([(t, r) for t, r in items if t0 <= t < t1], t0, DNS_PERIOD)
        for idx in sorted(buckets):
            recs = buckets[idx]
            stamp_t = t0 + (idx + 1) * DNS_PERIOD + rand.rng.randrange(0, 120)
            name = f"{vpc}_vpcdnsquerylogs_{ACCOUNT_ID}_{_stamp(stamp_t)}_{rand.hex(8)}.log.gz"
            rel = f"AWSLogs/{ACCOUNT_ID}/vpcdnsquerylogs/{vpc}/{_day_path(stamp_t)}/{name}"
            data = b"".join(encoder.encode(r) + b"\n" for _, r in recs)
            w.write(rel, data, "dns", vpc, len(recs))


# --------------------------------------------------------------------------- entry point


def generate_sample(
    out: Path,
    *,
    days: int = 3,
    seed: int = 7,
    start: datetime | None = None,
    overwrite: bool = False,
) -> SampleManifest:
    """Write a sample of ``days`` days from ``start`` (default 2025-09-01, UTC) under ``out``.

    ``start`` is rounded down to the hour (a naive datetime is taken as UTC).  Files go
    under ``out/AWSLogs/``; if that folder already holds files, :class:`FileExistsError`
    is raised unless ``overwrite`` is set, which removes it first.
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    begin = (start or DEFAULT_START).replace(minute=0, second=0, microsecond=0)
    if begin.tzinfo is None:
        begin = begin.replace(tzinfo=UTC)
    begin = begin.astimezone(UTC)
    t0 = begin.timestamp()
    t1 = t0 + days * 86400
    out = Path(out)
    logs = out / "AWSLogs"
    if logs.exists() and any(logs.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"{logs} already holds files (pass overwrite=True to replace them)"
            )
        shutil.rmtree(logs)

    ct = _CloudTrail(_Rand(f"{seed}/cloudtrail"))
    background = _Background(ct, _Rand(f"{seed}/cloudtrail-background"))
    for w in _windows(t0, t1, CLOUDTRAIL_PERIOD):
        background.window(w, CLOUDTRAIL_PERIOD)
    flows = _Flows(_Rand(f"{seed}/vpcflow"))
    traffic = _Traffic(flows, _Rand(f"{seed}/vpcflow-background"))
    for w in _windows(t0, t1, FLOW_PERIOD):
        traffic.window(w)
    dns = _Dns(_Rand(f"{seed}/dns"))
    for w in _windows(t0, t1, DNS_PERIOD):
        dns.window(w)
    story = _Story(t0, t1, ct, flows, dns, _Rand(f"{seed}/attacks"))
    story.run()
    # events nudged past either end of the period stay out of the sample
    for region in REGIONS:
        ct.records[region] = [(t, r) for t, r in ct.records[region] if t0 <= t < t1]
    story.tor_calls()

    writer = _Writer(out)
    names = _Rand(f"{seed}/names")
    delivered = _write_cloudtrail(writer, ct, t0, t1, names)
    _write_digests(writer, delivered, t0, names)
    _write_flows(writer, flows, t0, t1, names)
    _write_dns(writer, dns, t0, t1, names)

    events: dict[str, int] = {"cloudtrail": 0, "vpcflow": 0, "dns": 0}
    for f in writer.files:
        if f.log_type in events:
            events[f.log_type] += f.events
    attacks = tuple(sorted(story.attacks, key=lambda a: (a.first_seen, a.name)))
    return SampleManifest(
        out=out,
        seed=seed,
        account_id=ACCOUNT_ID,
        regions=REGIONS,
        start=begin,
        end=_dt(t1),
        files=tuple(sorted(writer.files, key=lambda f: f.path)),
        events=MappingProxyType(events),
        expected_finding_types=tuple(
            sorted({a.finding_type for a in attacks if not a.needs_threat_list})
        ),
        attacks=attacks,
        near_misses=tuple(sorted(story.near, key=lambda n: (n.time, n.name))),
    )

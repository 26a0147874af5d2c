"""The sample generator: deterministic, AWS-shaped, and holding the attacks it promises."""

from __future__ import annotations

import gzip
import ipaddress
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from trailguard.formats.schema import FLOW_DEFAULT_FORMAT
from trailguard.formats.sniff import SNIFF_BYTES, sniff
from trailguard.samplegen import (
    ACCOUNT_ID,
    THREAT_DOMAIN,
    THREAT_IP,
    SampleManifest,
    generate_sample,
)

V5_FORMAT = (
    "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport",
    "dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags",
    "log-status region flow-direction",
)
DNS_KEYS = {
    "version",
    "account_id",
    "region",
    "vpc_id",
    "query_timestamp",
    "query_name",
    "query_type",
    "query_class",
    "rcode",
    "answers",
    "srcaddr",
    "srcport",
    "transport",
    "srcids",
}
FIREWALL_KEYS = {"firewall_rule_action", "firewall_rule_group_id", "firewall_domain_list_id"}

KEY_PATTERNS = {
    "cloudtrail": re.compile(
        rf"AWSLogs/{ACCOUNT_ID}/CloudTrail/(?P<region>[a-z]{{2}}-[a-z]+-\d)/\d{{4}}/\d\d/\d\d/"
        rf"{ACCOUNT_ID}_CloudTrail_(?P=region)_\d{{8}}T\d{{4}}Z_[A-Za-z0-9]{{16}}\.json\.gz"
    ),
    "cloudtrail-digest": re.compile(
        rf"AWSLogs/{ACCOUNT_ID}/CloudTrail-Digest/(?P<region>[a-z]{{2}}-[a-z]+-\d)/"
        rf"\d{{4}}/\d\d/\d\d/{ACCOUNT_ID}_CloudTrail-Digest_(?P=region)_[\w-]+_"
        r"[a-z]{2}-[a-z]+-\d_\d{8}T\d{6}Z\.json\.gz"
    ),
    "vpcflow": re.compile(
        rf"AWSLogs/{ACCOUNT_ID}/vpcflowlogs/(?P<region>[a-z]{{2}}-[a-z]+-\d)/\d{{4}}/\d\d/\d\d/"
        rf"{ACCOUNT_ID}_vpcflowlogs_(?P=region)_fl-[0-9a-f]{{17}}_\d{{8}}T\d{{4}}Z_[0-9a-f]{{8}}"
        r"\.log\.gz"
    ),
    "dns": re.compile(
        rf"AWSLogs/{ACCOUNT_ID}/vpcdnsquerylogs/(?P<vpc>vpc-[0-9a-f]{{17}})/\d{{4}}/\d\d/\d\d/"
        rf"(?P=vpc)_vpcdnsquerylogs_{ACCOUNT_ID}_\d{{8}}T\d{{4}}Z_[0-9a-f]{{8}}\.log\.gz"
    ),
}
PRIVATE = (
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("192.168.0.0/16"),
)


@dataclass(frozen=True)
class Sample:
    manifest: SampleManifest
    cloudtrail: list[dict[str, Any]]
    flows: list[dict[str, str]]
    dns: list[dict[str, Any]]


def _read(root: Path, rel: str) -> bytes:
    return gzip.decompress((root / rel).read_bytes())


def _parse(manifest: SampleManifest) -> Sample:
    cloudtrail: list[dict[str, Any]] = []
    flows: list[dict[str, str]] = []
    dns: list[dict[str, Any]] = []
    for f in manifest.files:
        data = _read(manifest.out, f.path)
        if f.log_type == "cloudtrail":
            doc = json.loads(data)
            assert list(doc) == ["Records"]
            assert len(doc["Records"]) == f.events
            cloudtrail += doc["Records"]
        elif f.log_type == "vpcflow":
            header, *lines = data.decode().splitlines()
            fields = header.split()
            assert len(lines) == f.events
            for line in lines:
                values = line.split()
                assert len(values) == len(fields), line
                flows.append(dict(zip(fields, values, strict=True)))
        elif f.log_type == "dns":
            lines = data.decode().splitlines()
            assert len(lines) == f.events
            dns += [json.loads(line) for line in lines]
    return Sample(manifest, cloudtrail, flows, dns)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    return _parse(generate_sample(tmp_path_factory.mktemp("sample")))


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# ------------------------------------------------------------------ determinism and layout


def test_same_seed_gives_the_same_bytes(tmp_path: Path) -> None:
    a = generate_sample(tmp_path / "a", days=1, seed=11)
    b = generate_sample(tmp_path / "b", days=1, seed=11)
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    assert a.files == b.files
    assert a.attacks == b.attacks


def test_another_seed_gives_other_data(tmp_path: Path) -> None:
    a = generate_sample(tmp_path / "a", days=1, seed=1)
    b = generate_sample(tmp_path / "b", days=1, seed=2)
    assert _tree(tmp_path / "a") != _tree(tmp_path / "b")
    # the story is the same: same attacks, same times
    assert [(x.name, x.first_seen) for x in a.attacks] == [
        (x.name, x.first_seen) for x in b.attacks
    ]


def test_manifest_lists_exactly_the_files_written(sample: Sample) -> None:
    m = sample.manifest
    on_disk = _tree(m.out)
    assert sorted(on_disk) == [f.path for f in m.files]
    for f in m.files:
        assert len(on_disk[f.path]) == f.size
    assert m.total_bytes == sum(len(b) for b in on_disk.values())
    assert dict(m.events) == {
        "cloudtrail": len(sample.cloudtrail),
        "vpcflow": len(sample.flows),
        "dns": len(sample.dns),
    }


def test_keys_follow_the_aws_layout(sample: Sample) -> None:
    for f in sample.manifest.files:
        assert KEY_PATTERNS[f.log_type].fullmatch(f.path), f.path
        date = re.search(r"/(\d{4})/(\d\d)/(\d\d)/", f.path)
        assert date is not None
        stamp = re.search(r"_(\d{8})T\d{4,6}Z", f.path)
        assert stamp is not None and stamp.group(1) == "".join(date.groups()), f.path


def test_every_log_type_and_region_is_there(sample: Sample) -> None:
    m = sample.manifest
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for f in m.files:
        counts[f.log_type, f.location] += 1
    for region in ("us-east-1", "eu-west-1"):
        assert counts["cloudtrail", region] > 100
        assert counts["vpcflow", region] == 3 * 24 * 6  # every 10 minutes
        assert 1 <= counts["cloudtrail-digest", region] <= 3
    assert sum(n for (t, _), n in counts.items() if t == "dns") > 200
    assert len({loc for (t, loc) in counts if t == "dns"}) == 2


def test_small_and_plentiful(sample: Sample) -> None:
    m = sample.manifest
    assert m.total_bytes < 5_000_000
    assert m.events["cloudtrail"] > 2000
    assert m.events["vpcflow"] > 20_000
    assert m.events["dns"] > 5000


def test_content_is_sniffed_as_its_log_type(sample: Sample) -> None:
    kinds = {"cloudtrail": "cloudtrail", "cloudtrail-digest": "digest", "vpcflow": "vpcflow"}
    for f in sample.manifest.files:
        head = _read(sample.manifest.out, f.path)[:SNIFF_BYTES]
        assert sniff(head) == kinds.get(f.log_type, f.log_type), f.path


def test_start_days_and_existing_output(tmp_path: Path) -> None:
    m = generate_sample(tmp_path / "x", days=1, start=datetime(2024, 2, 28, 22, 41))
    assert m.start == datetime(2024, 2, 28, 22, tzinfo=UTC)
    assert m.end == m.start + timedelta(days=1)
    assert any("/2024/02/29/" in f.path for f in m.files)
    assert all(m.start <= a.first_seen <= a.last_seen < m.end for a in m.attacks)
    with pytest.raises(FileExistsError):
        generate_sample(tmp_path / "x", days=1)
    again = generate_sample(tmp_path / "x", days=1, overwrite=True)
    assert sorted(_tree(tmp_path / "x")) == [f.path for f in again.files]
    with pytest.raises(ValueError, match="days"):
        generate_sample(tmp_path / "y", days=0)


# ------------------------------------------------------------------ record shapes


def _time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def test_cloudtrail_records_look_like_cloudtrail(sample: Sample) -> None:
    m = sample.manifest
    required = {
        "eventVersion",
        "userIdentity",
        "eventTime",
        "eventSource",
        "eventName",
        "awsRegion",
        "sourceIPAddress",
        "userAgent",
        "requestParameters",
        "responseElements",
        "requestID",
        "eventID",
        "readOnly",
        "eventType",
        "managementEvent",
        "recipientAccountId",
        "eventCategory",
    }
    for rec in sample.cloudtrail:
        assert required <= rec.keys(), rec
        assert rec["eventVersion"] in {"1.08", "1.09", "1.10", "1.11"}
        assert m.start <= _time(rec["eventTime"]) < m.end
        assert rec["eventSource"].endswith(".amazonaws.com")
        assert rec["recipientAccountId"] == ACCOUNT_ID
        assert rec["eventCategory"] == "Management"
        assert isinstance(rec["readOnly"], bool)
        assert rec["eventType"] in {"AwsApiCall", "AwsConsoleSignIn", "AwsServiceEvent"}
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                            rec["eventID"])  # fmt: skip
    event_ids = [r["eventID"] for r in sample.cloudtrail]
    assert len(set(event_ids)) == len(event_ids)
    types = {r["userIdentity"]["type"] for r in sample.cloudtrail}
    assert {"IAMUser", "AssumedRole", "AWSService", "IdentityCenterUser", "Root"} <= types
    assert len({(r["eventSource"], r["eventName"]) for r in sample.cloudtrail}) >= 40
    assert {"AwsApiCall", "AwsConsoleSignIn"} <= {r["eventType"] for r in sample.cloudtrail}
    sources = {r["sourceIPAddress"] for r in sample.cloudtrail}
    assert "ec2.amazonaws.com" in sources
    assert any(re.fullmatch(r"\d+\.\d+\.\d+\.\d+", s) for s in sources)
    assert any("tlsDetails" in r for r in sample.cloudtrail)
    assert any(r.get("errorCode") for r in sample.cloudtrail)
    assumed = [r for r in sample.cloudtrail if r["userIdentity"]["type"] == "AssumedRole"]
    ctx = assumed[0]["userIdentity"]["sessionContext"]
    assert {"sessionIssuer", "attributes"} <= ctx.keys()
    # the records of one region's file belong to that region
    for f in sample.manifest.files_of("cloudtrail"):
        recs = json.loads(_read(m.out, f.path))["Records"]
        assert {r["awsRegion"] for r in recs} == {f.location}


def test_digests_list_the_log_files_they_cover(sample: Sample) -> None:
    import hashlib

    m = sample.manifest
    logs = {f.path for f in m.files_of("cloudtrail")}
    previous: dict[str, bytes] = {}
    for f in m.files_of("cloudtrail-digest"):
        raw = _read(m.out, f.path)
        digest = json.loads(raw)
        assert digest["awsAccountId"] == ACCOUNT_ID
        assert digest["digestS3Object"] == f.path
        assert digest["logFiles"]
        for entry in digest["logFiles"]:
            assert entry["s3Object"] in logs
            body = _read(m.out, entry["s3Object"])
            assert entry["hashValue"] == hashlib.sha256(body).hexdigest()
        if digest["previousDigestS3Object"]:
            prev = previous[digest["previousDigestS3Object"]]
            assert digest["previousDigestHashValue"] == hashlib.sha256(prev).hexdigest()
        previous[f.path] = raw


def test_flow_logs_look_like_flow_logs(sample: Sample) -> None:
    m = sample.manifest
    headers = set()
    for f in m.files_of("vpcflow"):
        header = _read(m.out, f.path).split(b"\n", 1)[0].decode().split()
        headers.add(tuple(header))
    assert headers == {FLOW_DEFAULT_FORMAT, tuple(" ".join(V5_FORMAT).split())}
    statuses = defaultdict(int)
    for r in sample.flows:
        statuses[r["log-status"]] += 1
        assert r["account-id"] == ACCOUNT_ID
        assert r["interface-id"].startswith("eni-")
        assert int(r["start"]) <= int(r["end"])
        if r["log-status"] == "OK":
            assert r["action"] in {"ACCEPT", "REJECT"}
            assert r["protocol"] in {"1", "6", "17"}
            ipaddress.ip_address(r["srcaddr"])
            assert 0 <= int(r["srcport"]) < 65536 and int(r["packets"]) >= 1
        else:
            assert r["srcaddr"] == "-" and r["action"] == "-"
        if r["version"] == "5":
            assert r["flow-direction"] in {"ingress", "egress", "-"}
            assert r["instance-id"].startswith("i-")
    assert statuses["NODATA"] > 0
    assert statuses["OK"] > 20_000
    assert sum(r.get("action") == "REJECT" for r in sample.flows) > 100
    assert {r["version"] for r in sample.flows} == {"2", "5"}
    # realistic traffic: web servers on 443, an internal database, AWS endpoints
    assert any(r["srcport"] == "443" and r["srcaddr"].startswith("10.20.0.") for r in sample.flows)
    assert any(
        r["dstport"] == "5432" and r["dstaddr"].startswith("10.20.11.") for r in sample.flows
    )
    assert any(r["dstaddr"].startswith("52.46.") and r["dstport"] == "443" for r in sample.flows)


def test_resolver_records_have_the_aws_fields(sample: Sample) -> None:
    m = sample.manifest
    firewall = 0
    for rec in sample.dns:
        extra = rec.keys() - DNS_KEYS
        assert rec.keys() >= DNS_KEYS and extra <= FIREWALL_KEYS, rec
        firewall += bool(extra)
        assert rec["version"] == "1.100000"
        assert rec["account_id"] == ACCOUNT_ID
        assert rec["query_name"].endswith(".")
        assert rec["query_class"] == "IN"
        assert rec["rcode"] in {"NOERROR", "NXDOMAIN"}
        assert isinstance(rec["srcport"], str) and rec["srcport"].isdigit()
        assert rec["transport"] in {"UDP", "TCP"}
        assert rec["srcids"]["instance"].startswith("i-")
        assert m.start <= _time(rec["query_timestamp"]) < m.end
        for answer in rec["answers"]:
            assert answer.keys() == {"Rdata", "Type", "Class"}
    assert firewall > 0
    assert {"A", "AAAA", "PTR"} <= {r["query_type"] for r in sample.dns}
    assert any(r["rcode"] == "NXDOMAIN" for r in sample.dns)
    assert any(a["Type"] == "CNAME" for r in sample.dns for a in r["answers"])


# ------------------------------------------------------------------ the attacks


def _attack(sample: Sample, name: str) -> Any:
    (found,) = [a for a in sample.manifest.attacks if a.name == name]
    return found


def test_manifest_names_the_expected_findings(sample: Sample) -> None:
    m = sample.manifest
    assert m.expected_finding_types == (
        "Policy:IAMUser/RootCredentialUsage",
        "Recon:EC2/Portscan",
        "Stealth:IAMUser/CloudTrailLoggingDisabled",
        "UnauthorizedAccess:EC2/MetadataDNSRebind",
    )
    intel = {a.finding_type for a in m.attacks if a.needs_threat_list}
    # the attacker's own address is on the demo's Tor list
    assert (
        intel
        == set(m.intel_finding_types)
        == {
            "Backdoor:EC2/C&CActivity.B!DNS",
            "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom",
            "Recon:IAMUser/TorIPCaller",
            "UnauthorizedAccess:IAMUser/TorIPCaller",
        }
    )
    assert m.threat_ips == (THREAT_IP,) and m.threat_domains == (THREAT_DOMAIN,)
    assert {n.name for n in m.near_misses} == {
        "root-invoked-by-service",
        "harmless-trail-update",
        "stop-logging-denied",
        "web-server-replies",
        "normal-dns",
    }
    for a in m.attacks:
        assert m.start <= a.first_seen <= a.last_seen < m.end


def _root_usage(rec: dict[str, Any]) -> bool:
    ident = rec["userIdentity"]
    return (
        ident.get("type") == "Root"
        and ident.get("invokedBy") is None
        and rec.get("eventType") != "AwsServiceEvent"
    )


def test_root_credential_usage(sample: Sample) -> None:
    attack = _attack(sample, "root-credential-usage")
    hits = [r for r in sample.cloudtrail if _root_usage(r)]
    assert len(hits) >= 4
    assert {_time(r["eventTime"]) for r in hits} <= _between(attack.first_seen, attack.last_seen)
    login = [r for r in hits if r["eventName"] == "ConsoleLogin"]
    assert len(login) == 1 and _time(login[0]["eventTime"]) == attack.first_seen
    assert login[0]["responseElements"] == {"ConsoleLogin": "Success"}
    assert {r["awsRegion"] for r in hits} == {"us-east-1", "eu-west-1"}
    # the near miss: root, but invoked by an AWS service
    served = [
        r for r in sample.cloudtrail if r["userIdentity"]["type"] == "Root" and not _root_usage(r)
    ]
    assert served and all(r["userIdentity"]["invokedBy"].endswith(".amazonaws.com") for r in served)


def _between(first: datetime, last: datetime) -> set[datetime]:
    seconds = int((last - first).total_seconds())
    return {first + timedelta(seconds=s) for s in range(seconds + 1)}


_WEAKENING = ("isMultiRegionTrail", "includeGlobalServiceEvents", "enableLogFileValidation")
_REDIRECTING = ("s3BucketName", "s3KeyPrefix", "cloudWatchLogsLogGroupArn", "kmsKeyId")


def _logging_disabled(rec: dict[str, Any]) -> bool:
    if rec["eventSource"] != "cloudtrail.amazonaws.com" or rec.get("errorCode"):
        return False
    if rec["eventName"] in ("StopLogging", "DeleteTrail"):
        return True
    if rec["eventName"] != "UpdateTrail":
        return False
    params = rec["requestParameters"] or {}
    return any(params.get(k) is False for k in _WEAKENING) or any(k in params for k in _REDIRECTING)


def test_cloudtrail_logging_disabled(sample: Sample) -> None:
    attack = _attack(sample, "cloudtrail-tampering")
    hits = [r for r in sample.cloudtrail if _logging_disabled(r)]
    assert [r["eventName"] for r in sorted(hits, key=lambda r: r["eventTime"])] == [
        "StopLogging",
        "DeleteTrail",
        "UpdateTrail",
    ]
    assert {r["userIdentity"]["accessKeyId"] for r in hits} == {attack.resource}
    assert {r["userIdentity"]["type"] for r in hits} == {"IAMUser"}
    assert _time(min(r["eventTime"] for r in hits)) == attack.first_seen
    assert _time(max(r["eventTime"] for r in hits)) == attack.last_seen
    (update,) = [r for r in hits if r["eventName"] == "UpdateTrail"]
    assert "s3BucketName" in update["requestParameters"]
    # near misses: a denied StopLogging, a harmless UpdateTrail and tags
    denied = [
        r for r in sample.cloudtrail if r["eventName"] == "StopLogging" and r.get("errorCode")
    ]
    assert [r["errorCode"] for r in denied] == ["AccessDenied"]
    trail_calls = [r for r in sample.cloudtrail if r["eventSource"] == "cloudtrail.amazonaws.com"]
    harmless = [
        r for r in trail_calls if r["eventName"] == "UpdateTrail" and not _logging_disabled(r)
    ]
    assert harmless and any(r["eventName"] == "AddTags" for r in trail_calls)


def _private(addr: str) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in net for net in PRIVATE)


def _probes(flows: list[dict[str, str]]) -> Iterator[dict[str, str]]:
    """Flow records the port-scan detection counts."""
    for r in flows:
        if r["log-status"] != "OK" or r["protocol"] not in ("6", "17"):
            continue
        if r.get("flow-direction", "egress") != "egress" or not _private(r["srcaddr"]):
            continue
        if int(r["srcport"]) < 1024 or int(r["dstport"]) >= 32768:
            continue
        if r["action"] == "REJECT" or int(r["packets"]) <= 3:
            yield r


def test_port_scan_is_the_only_scanner(sample: Sample) -> None:
    attack = _attack(sample, "outbound-port-scan")
    ports: dict[tuple[str, str, str, int], set[str]] = defaultdict(set)
    for r in _probes(sample.flows):
        window = int(r["start"]) // 600
        ports[r["interface-id"], r["srcaddr"], r["dstaddr"], window].add(r["dstport"])
    busy = {key: len(v) for key, v in ports.items() if len(v) >= 25}
    assert len(busy) == 1, busy
    ((_eni, src, dst, _window), count) = busy.popitem()
    assert dst == attack.actor and count >= 60
    scan = [r for r in sample.flows if r["srcaddr"] == src and r["dstaddr"] == dst]
    starts = [int(r["start"]) for r in scan]
    assert max(starts) - min(starts) < 600
    assert all(int(r["packets"]) <= 2 for r in scan)
    assert sum(r["action"] == "REJECT" for r in scan) > len(scan) / 3
    assert min(starts) == int(attack.first_seen.timestamp())


def test_web_server_replies_are_not_a_scan(sample: Sample) -> None:
    (miss,) = [n for n in sample.manifest.near_misses if n.name == "web-server-replies"]
    t = int(miss.time.timestamp())
    replies = [
        r
        for r in sample.flows
        if r["srcport"] == "443" and _private(r["srcaddr"]) and t <= int(r["start"]) < t + 600
    ]
    assert len({r["dstport"] for r in replies}) >= 100


def test_metadata_dns_rebind(sample: Sample) -> None:
    attack = _attack(sample, "metadata-dns-rebind")
    hits = [r for r in sample.dns if any(a["Rdata"] == "169.254.169.254" for a in r["answers"])]
    assert len(hits) == 1
    (hit,) = hits
    assert hit["query_name"] == attack.actor + "."
    assert hit["srcids"]["instance"] == attack.resource
    assert _time(hit["query_timestamp"]) == attack.first_seen
    # the same name resolved to a public address a moment before: rebinding
    assert sum(r["query_name"] == hit["query_name"] for r in sample.dns) == 2


def test_threat_list_material(sample: Sample) -> None:
    c2 = [r for r in sample.dns if r["query_name"] == THREAT_DOMAIN + "."]
    assert len(c2) == 1 and c2[0]["answers"][0]["Rdata"] == THREAT_IP
    to_bad = [r for r in sample.flows if r["dstaddr"] == THREAT_IP]
    from_bad = [r for r in sample.flows if r["srcaddr"] == THREAT_IP]
    assert len(to_bad) >= 20 and len(from_bad) >= 20
    assert any(r["action"] == "REJECT" for r in from_bad)
    assert {r["version"] for r in from_bad} == {"2", "5"}
    outbound = _attack(sample, "known-bad-ip-outbound")
    assert min(int(r["start"]) for r in to_bad) == int(outbound.first_seen.timestamp())

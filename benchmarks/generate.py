"""Write large, realistic, seeded log data for benchmarks, in the S3 key layout AWS uses.

    python benchmarks/generate.py --out DIR --log-type cloudtrail --mb 200
    python benchmarks/generate.py --out DIR --log-type vpcflow --mb 500 [--flow-format v5]
    python benchmarks/generate.py --out DIR --log-type dns --mb 200

``--mb`` is the compressed (gzip) size to write; files are written until it is reached.
The same ``--seed`` gives the same files.

- CloudTrail: files of 1-5 MB uncompressed (as real ones), records of ~1-2 KB from
  ~400 event names across ~50 services; userIdentity of every type (IAMUser,
  AssumedRole with sessionContext, AWSService, Root, IdentityCenterUser,
  FederatedUser, SAMLUser, WebIdentityUser, AWSAccount); requestParameters whose
  members change type from record to record (``filter`` as a string, an object or a
  list; ``maxResults`` as a number or a string; ``tags`` as a list or an object).
  Built record by record in Python, encoded with msgspec.
- VPC flow logs: files of ~64 MB uncompressed (``--file-mb``), default (v2) format or a
  custom v5 format, built column-wise with pyarrow compute: ENIs in a few VPCs,
  internet addresses with a skewed popularity, service ports by weight, ephemeral
  ports, request and reply directions, some REJECTs and NODATA records.
- Route 53 Resolver query logs: files of ~32 MB uncompressed, JSON lines built
  column-wise from pre-rendered fragments: AWS endpoints, popular and long-tail
  domains, Kubernetes search-path NXDOMAINs, CNAME chains, AAAA without answers, PTR
  lookups, DNS Firewall actions.

Compression uses ISA-L (``--level`` 0-3, default 3) for speed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
from isal import isal_zlib

Json = dict[str, Any]
MB = 1024 * 1024
START = 1_756_684_800  # 2025-09-01T00:00:00Z
ACCOUNT = "222233334444"
REGIONS = ("us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2")


def words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def stamp(ts: float) -> str:
    return time.strftime("%Y%m%dT%H%MZ", time.gmtime(ts))


def day(ts: float) -> str:
    return time.strftime("%Y/%m/%d", time.gmtime(ts))


class Writer:
    """Compresses and writes files until the compressed total reaches the target."""

    def __init__(self, out: Path, target_mb: float, level: int) -> None:
        self.out = out
        self.target = int(target_mb * MB)
        self.level = level
        self.written = 0
        self.raw = 0
        self.files = 0
        self.events = 0

    @property
    def done(self) -> bool:
        return self.written >= self.target

    def write(self, rel: str, data: bytes | memoryview, events: int) -> None:
        blob = isal_zlib.compress(data, self.level, 16 + isal_zlib.MAX_WBITS)
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)
        self.written += len(blob)
        self.raw += len(data)
        self.files += 1
        self.events += events


# ================================================================== CloudTrail

SERVICES: dict[str, str] = {
    "ec2": "DescribeInstances DescribeSecurityGroups DescribeVolumes DescribeSnapshots "
    "DescribeImages DescribeSubnets DescribeVpcs DescribeNetworkInterfaces DescribeInstanceStatus "
    "DescribeTags DescribeLaunchTemplates DescribeAddresses DescribeRouteTables RunInstances "
    "TerminateInstances StartInstances StopInstances CreateTags DeleteTags CreateSnapshot "
    "DeleteSnapshot CreateVolume AttachVolume DetachVolume AuthorizeSecurityGroupIngress "
    "RevokeSecurityGroupIngress CreateSecurityGroup ModifyInstanceAttribute "
    "CreateNetworkInterface DeleteNetworkInterface AssociateAddress",
    "s3": "ListBuckets GetBucketLocation GetBucketPolicy GetBucketAcl GetBucketVersioning "
    "GetBucketEncryption GetBucketLogging GetBucketTagging PutBucketPolicy PutBucketTagging "
    "CreateBucket DeleteBucket PutBucketPublicAccessBlock GetBucketPublicAccessBlock "
    "PutBucketLifecycle GetBucketLifecycle",
    "iam": "ListUsers ListRoles GetUser GetRole ListAttachedRolePolicies ListRolePolicies "
    "GetRolePolicy ListAccessKeys GetAccessKeyLastUsed CreateAccessKey DeleteAccessKey "
    "UpdateAccessKey CreateUser DeleteUser AttachUserPolicy DetachUserPolicy PutRolePolicy "
    "CreateRole DeleteRole AttachRolePolicy CreatePolicy CreatePolicyVersion GetPolicy "
    "GetPolicyVersion ListPolicies GetAccountSummary ListMFADevices GenerateCredentialReport "
    "GetCredentialReport",
    "sts": "AssumeRole AssumeRoleWithWebIdentity AssumeRoleWithSAML GetCallerIdentity "
    "GetSessionToken GetFederationToken DecodeAuthorizationMessage",
    "kms": "Decrypt Encrypt GenerateDataKey GenerateDataKeyWithoutPlaintext DescribeKey ListKeys "
    "ListAliases CreateGrant RetireGrant GetKeyPolicy PutKeyPolicy ScheduleKeyDeletion",
    "lambda": "ListFunctions20150331 GetFunction20150331v2 UpdateFunctionCode20150331v2 "
    "UpdateFunctionConfiguration20150331v2 CreateFunction20150331 DeleteFunction20150331 "
    "AddPermission20150331v2 PublishVersion20150331 ListTags20170331",
    "logs": "CreateLogStream CreateLogGroup DescribeLogGroups DescribeLogStreams FilterLogEvents "
    "GetLogEvents PutRetentionPolicy DeleteLogGroup StartQuery GetQueryResults "
    "PutSubscriptionFilter",
    "monitoring": "DescribeAlarms GetMetricData PutMetricAlarm DeleteAlarms ListMetrics "
    "GetMetricStatistics DescribeAlarmHistory",
    "ssm": "UpdateInstanceInformation ListInstanceAssociations GetParameter GetParameters "
    "GetParametersByPath PutParameter DescribeInstanceInformation StartSession TerminateSession "
    "SendCommand ListCommands GetCommandInvocation DescribeParameters GetDocument "
    "UpdateInstanceAssociationStatus",
    "secretsmanager": "GetSecretValue DescribeSecret ListSecrets PutSecretValue CreateSecret "
    "RotateSecret UpdateSecret",
    "dynamodb": "DescribeTable ListTables CreateTable UpdateTable DeleteTable "
    "DescribeContinuousBackups DescribeTimeToLive ListTagsOfResource CreateBackup",
    "rds": "DescribeDBInstances DescribeDBClusters DescribeDBSnapshots CreateDBSnapshot "
    "ModifyDBInstance DescribeDBParameterGroups DescribeEvents ListTagsForResource "
    "StartDBInstance StopDBInstance",
    "cloudformation": "DescribeStacks DescribeStackEvents DescribeStackResources ListStacks "
    "CreateStack UpdateStack DeleteStack CreateChangeSet DescribeChangeSet ExecuteChangeSet "
    "GetTemplate ValidateTemplate",
    "ecr": "GetAuthorizationToken BatchCheckLayerAvailability BatchGetImage "
    "GetDownloadUrlForLayer DescribeRepositories DescribeImages PutImage InitiateLayerUpload "
    "CompleteLayerUpload UploadLayerPart CreateRepository",
    "ecs": "DescribeServices DescribeTasks ListTasks ListServices UpdateService "
    "RegisterTaskDefinition DescribeTaskDefinition RunTask StopTask DescribeClusters "
    "SubmitTaskStateChange DiscoverPollEndpoint",
    "eks": "DescribeCluster ListClusters DescribeNodegroup ListNodegroups UpdateNodegroupConfig",
    "elasticloadbalancing": "DescribeLoadBalancers DescribeTargetGroups DescribeTargetHealth "
    "RegisterTargets DeregisterTargets DescribeListeners ModifyTargetGroupAttributes",
    "autoscaling": "DescribeAutoScalingGroups DescribeScalingActivities UpdateAutoScalingGroup "
    "SetDesiredCapacity DescribeLaunchConfigurations CompleteLifecycleAction",
    "sqs": "CreateQueue DeleteQueue SetQueueAttributes ListQueues",
    "sns": "CreateTopic Subscribe ListSubscriptions GetTopicAttributes SetTopicAttributes "
    "ListTopics",
    "route53": "ListHostedZones GetHostedZone ChangeResourceRecordSets ListResourceRecordSets "
    "GetChange",
    "cloudtrail": "DescribeTrails GetTrailStatus LookupEvents GetEventSelectors ListTrails "
    "CreateTrail UpdateTrail StartLogging StopLogging PutEventSelectors",
    "config": "PutEvaluations DescribeConfigRules PutConfigurationRecorder "
    "DescribeConfigurationRecorderStatus StartConfigRulesEvaluation SelectResourceConfig",
    "guardduty": "ListDetectors GetDetector ListFindings GetFindings ArchiveFindings "
    "CreateThreatIntelSet UpdateDetector",
    "securityhub": "GetFindings BatchImportFindings BatchUpdateFindings DescribeHub "
    "GetEnabledStandards",
    "organizations": "DescribeOrganization ListAccounts DescribeAccount ListPoliciesForTarget "
    "ListRoots",
    "sso": "ListAccounts ListAccountRoles GetRoleCredentials Logout",
    "signin": "ConsoleLogin SwitchRole GetSigninToken",
    "ce": "GetCostAndUsage GetCostForecast GetDimensionValues GetReservationUtilization",
    "health": "DescribeEventAggregates DescribeEvents DescribeEventDetails",
    "acm": "ListCertificates DescribeCertificate RequestCertificate GetCertificate",
    "apigateway": "GetRestApis GetStages CreateDeployment UpdateStage GetResources",
    "cloudfront": "ListDistributions GetDistribution UpdateDistribution CreateInvalidation "
    "GetDistributionConfig",
    "events": "PutRule PutTargets DescribeRule ListRules ListTargetsByRule",
    "states": "StartExecution DescribeExecution ListExecutions DescribeStateMachine",
    "glue": "GetDatabases GetTables GetTable StartJobRun GetJobRun CreatePartition "
    "BatchCreatePartition GetPartitions",
    "athena": "StartQueryExecution GetQueryExecution GetQueryResults ListWorkGroups GetWorkGroup",
    "kinesis": "DescribeStream ListStreams CreateStream DescribeStreamSummary",
    "elasticfilesystem": "DescribeFileSystems DescribeMountTargets CreateFileSystem",
    "backup": "StartBackupJob DescribeBackupJob ListBackupJobs ListRecoveryPointsByBackupVault",
    "access-analyzer": "ListAnalyzers ListFindings ValidatePolicy",
    "tagging": "GetResources GetTagKeys",
    "servicequotas": "GetServiceQuota ListServiceQuotas",
    "support": "DescribeTrustedAdvisorChecks DescribeCases",
    "inspector2": "ListFindings ListCoverage BatchGetAccountStatus",
    "codebuild": "StartBuild BatchGetBuilds ListProjects",
    "codepipeline": "GetPipelineState StartPipelineExecution ListPipelines",
    "elasticache": "DescribeCacheClusters DescribeReplicationGroups",
    "es": "DescribeDomain ListDomainNames",
    "route53resolver": "ListResolverQueryLogConfigs AssociateResolverQueryLogConfig",
    "ec2-instance-connect": "SendSSHPublicKey",
}
SERVICE_NAMES = tuple(SERVICES)
GLOBAL_SERVICES = {"iam", "route53", "cloudfront", "organizations", "support", "ce", "health"}
READ_PREFIXES = ("Describe", "List", "Get", "Lookup", "BatchGet", "Validate", "Select", "Decode")

# where each service's calls name their resource: (parameter, id maker key)
RESOURCE_PARAM: dict[str, tuple[str, str]] = {
    "ec2": ("instanceId", "instance"),
    "s3": ("bucketName", "bucket"),
    "iam": ("roleName", "role"),
    "kms": ("keyId", "key"),
    "lambda": ("functionName", "function"),
    "logs": ("logGroupName", "loggroup"),
    "ssm": ("name", "parameter"),
    "secretsmanager": ("secretId", "secret"),
    "dynamodb": ("tableName", "table"),
    "rds": ("dBInstanceIdentifier", "db"),
    "cloudformation": ("stackName", "stack"),
    "ecr": ("repositoryName", "repo"),
    "ecs": ("cluster", "cluster"),
    "sqs": ("queueUrl", "queue"),
    "sns": ("topicArn", "topic"),
}

WORDS = words(
    "orders payments billing catalog search users auth inventory shipping checkout analytics "
    "reports events audit metrics ingest export import notifications email frontend backend "
    "api worker batch stream cache session media images thumbnails ledger invoices pricing "
    "recommendations fraud risk compliance archive backup"
)
ENVS = ("prod", "staging", "dev", "sandbox", "qa")


class CloudTrailGenerator:
    """Record-by-record CloudTrail, with pooled sub-objects for speed."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.events = [(svc, name) for svc, names in SERVICES.items() for name in names.split()]
        # popularity: a few calls dominate (Zipf-like), as in real accounts
        rng.shuffle(self.events)
        self.weights = [1 / (i + 1) ** 0.9 for i in range(len(self.events))]
        self.cum = list(_accumulate(self.weights))
        self.ids = self._id_pools()
        self.identities = self._identities()
        self.agents = self._agents()
        self.ips = [self._public_ip() for _ in range(4000)] + [
            f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            for _ in range(1000)
        ]

    # -- pools

    def _hex(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def _b32(self, n: int) -> str:
        return base64.b32encode(self.rng.randbytes(n)).decode()[:n]

    def _uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    def _public_ip(self) -> str:
        first = self.rng.choice((3, 13, 18, 34, 35, 44, 52, 54, 81, 89, 100, 104, 151, 172, 203))
        a, b, c = self.rng.randrange(256), self.rng.randrange(256), self.rng.randrange(1, 255)
        return f"{first}.{a}.{b}.{c}"

    def _id_pools(self) -> dict[str, list[str]]:
        r, h = self.rng, self._hex

        def name() -> str:
            return f"{r.choice(ENVS)}-{r.choice(WORDS)}-{r.choice(WORDS)}"

        return {
            "instance": [f"i-{h(17)}" for _ in range(3000)],
            "bucket": [f"{name()}-{h(6)}" for _ in range(300)],
            "role": [f"{name()}-role" for _ in range(400)],
            "key": [f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{self._uuid()}" for _ in range(60)],
            "function": [name() for _ in range(300)],
            "loggroup": [f"/aws/lambda/{name()}" for _ in range(600)],
            "parameter": [
                f"/{r.choice(ENVS)}/{r.choice(WORDS)}/{r.choice(WORDS)}" for _ in range(500)
            ],
            "secret": [f"{r.choice(ENVS)}/{r.choice(WORDS)}/{r.choice(WORDS)}" for _ in range(200)],
            "table": [name() for _ in range(150)],
            "db": [name() for _ in range(40)],
            "stack": [name() for _ in range(200)],
            "repo": [f"{r.choice(WORDS)}/{r.choice(WORDS)}" for _ in range(120)],
            "cluster": [name() for _ in range(20)],
            "queue": [
                f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/{name()}" for _ in range(200)
            ],
            "topic": [f"arn:aws:sns:us-east-1:{ACCOUNT}:{name()}" for _ in range(100)],
            "sg": [f"sg-{h(17)}" for _ in range(400)],
            "subnet": [f"subnet-{h(17)}" for _ in range(60)],
            "volume": [f"vol-{h(17)}" for _ in range(3000)],
        }

    def _identities(self) -> list[Json]:
        r = self.rng
        out: list[Json] = []

        def assumed(role: str, session: str, path: str = "", **extra: Any) -> Json:
            rid = "AROA" + self._b32(17)
            ctx: Json = {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": rid,
                    "arn": f"arn:aws:iam::{ACCOUNT}:role/{path}{role}",
                    "accountId": ACCOUNT,
                    "userName": role,
                },
                "webIdFederationData": {},
                "attributes": {
                    "creationDate": iso(START + r.randrange(86400)),
                    "mfaAuthenticated": r.choice(("false", "false", "true")),
                },
            }
            if extra.pop("ec2", False):
                ctx["ec2RoleDelivery"] = "2.0"
            if "sourceIdentity" in extra:
                ctx["sourceIdentity"] = extra.pop("sourceIdentity")
            ident: Json = {
                "type": "AssumedRole",
                "principalId": f"{rid}:{session}",
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}",
                "accountId": ACCOUNT,
                "accessKeyId": "ASIA" + self._b32(16),
                "sessionContext": ctx,
            }
            ident.update(extra)
            return ident

        for i in range(60):
            user = f"{r.choice(WORDS)}.{r.choice(WORDS)}{i}"
            out.append(
                {
                    "type": "IAMUser",
                    "principalId": "AIDA" + self._b32(17),
                    "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}",
                    "accountId": ACCOUNT,
                    "accessKeyId": r.choice(("AKIA", "ASIA")) + self._b32(16),
                    "userName": user,
                }
            )
        for _ in range(150):
            out.append(
                assumed(r.choice(self.ids["role"]), r.choice(self.ids["instance"]), ec2=True)
            )
        for _ in range(60):
            fn = r.choice(self.ids["function"])
            out.append(assumed(f"{fn}-role", fn))
        for i in range(40):
            person = f"{r.choice(WORDS)}{i}@example.com"
            access = r.choice(("AdministratorAccess", "ReadOnlyAccess", "PowerUserAccess"))
            role = f"AWSReservedSSO_{access}_{self._hex(16)}"
            out.append(
                assumed(role, person, "aws-reserved/sso.amazonaws.com/", sourceIdentity=person)
                if i % 4 == 0
                else assumed(role, person, "aws-reserved/sso.amazonaws.com/")
            )
        for svc in ("config", "autoscaling", "elasticloadbalancing", "ecs", "rds", "backup"):
            out.append(
                assumed(
                    f"AWSServiceRoleFor{svc.title()}",
                    f"{svc}-session",
                    f"aws-service-role/{svc}.amazonaws.com/",
                    invokedBy=f"{svc}.amazonaws.com",
                )
            )
        for svc in ("ec2", "lambda", "cloudtrail", "config", "ecs-tasks", "eks", "ssm", "s3"):
            out.append({"type": "AWSService", "invokedBy": f"{svc}.amazonaws.com"})
        out.append(
            {
                "type": "Root",
                "principalId": ACCOUNT,
                "arn": f"arn:aws:iam::{ACCOUNT}:root",
                "accountId": ACCOUNT,
                "accessKeyId": "",
            }
        )
        for _ in range(10):
            out.append(
                {
                    "type": "IdentityCenterUser",
                    "accountId": ACCOUNT,
                    "onBehalfOf": {
                        "userId": self._uuid(),
                        "identityStoreArn": f"arn:aws:identitystore::{ACCOUNT}:identitystore/"
                        f"d-{self._hex(10)}",
                    },
                    "credentialId": self._b32(40),
                }
            )
        for _ in range(5):
            user = r.choice(WORDS)
            out.append(
                {
                    "type": "FederatedUser",
                    "principalId": f"{ACCOUNT}:{user}",
                    "arn": f"arn:aws:sts::{ACCOUNT}:federated-user/{user}",
                    "accountId": ACCOUNT,
                    "accessKeyId": "ASIA" + self._b32(16),
                    "sessionContext": {
                        "sessionIssuer": {
                            "type": "IAMUser",
                            "principalId": "AIDA" + self._b32(17),
                            "arn": f"arn:aws:iam::{ACCOUNT}:user/federation-broker",
                            "accountId": ACCOUNT,
                            "userName": "federation-broker",
                        },
                        "attributes": {"creationDate": iso(START), "mfaAuthenticated": "false"},
                    },
                }
            )
        for _ in range(4):
            out.append(
                {
                    "type": "SAMLUser",
                    "principalId": f"{self._b32(28)}=:{r.choice(WORDS)}@example.com",
                    "userName": f"{r.choice(WORDS)}@example.com",
                    "identityProvider": self._b32(28) + "=",
                }
            )
            out.append(
                {
                    "type": "WebIdentityUser",
                    "principalId": "token.actions.githubusercontent.com:sts.amazonaws.com:"
                    f"repo:example/{r.choice(WORDS)}:ref:refs/heads/main",
                    "userName": f"repo:example/{r.choice(WORDS)}:ref:refs/heads/main",
                    "identityProvider": "token.actions.githubusercontent.com",
                }
            )
            out.append(
                {
                    "type": "AWSAccount",
                    "principalId": "AIDA" + self._b32(17),
                    "accountId": str(r.randrange(10**11, 10**12)),
                }
            )
        # weight: machines call far more than people
        weighted: list[Json] = []
        for ident in out:
            t = ident["type"]
            n = 6 if t == "AssumedRole" else 1 if t in ("Root", "SAMLUser", "AWSAccount") else 3
            weighted += [ident] * n
        return weighted

    def _agents(self) -> list[str]:
        return [
            "aws-cli/2.17.20 md/awscrt#0.20.11 ua/2.0 os/linux#6.1.102 md/arch#x86_64 "
            "lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe "
            "md/prompt#off md/command#ec2.describe-instances",
            "Boto3/1.34.144 md/Botocore#1.34.144 ua/2.0 os/linux#5.10.223 md/arch#x86_64 "
            "lang/python#3.12.4 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 "
            "cfg/retry-mode#legacy Botocore/1.34.144",
            "aws-sdk-go/1.44.260 (go1.22.4; linux; amd64) amazon-ssm-agent/3.3.808.0",
            "aws-sdk-go-v2/1.30.4 ua/2.0 os/linux lang/go#1.22.6 md/GOOS#linux md/GOARCH#amd64 "
            "api/ec2#1.177.0",
            "APN/1.0 HashiCorp/1.0 Terraform/1.9.5 (+https://www.terraform.io) "
            "terraform-provider-aws/5.64.0 aws-sdk-go-v2/1.30.4 ua/2.0 os/linux lang/go#1.22.6",
            "aws-sdk-java/2.26.7 Linux/5.10.223 OpenJDK_64-Bit_Server_VM/17.0.12+7-LTS "
            "Java/17.0.12 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy",
            "aws-sdk-js/3.637.0 ua/2.1 os/linux#5.10.223 lang/js md/nodejs#20.16.0 "
            "api/s3#3.637.0 m/E,e",
            "AWS Internal",
            "console.ec2.amazonaws.com",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like "
            "Gecko) Chrome/128.0.0.0 Safari/537.36",
            "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.750 Linux/5.10.223]",
            "cloudformation.amazonaws.com",
            "eks.amazonaws.com",
            "Datadog/1.0 aws-sdk-go/1.55.5 (go1.22.5; linux; amd64)",
        ]

    # -- parameters whose members change type from record to record

    def _filter(self) -> Any:
        r = self.rng
        pick = r.randrange(3)
        if pick == 0:
            return f"tag:{r.choice(('env', 'team', 'app'))}={r.choice(ENVS)}"
        if pick == 1:
            return {
                "and": [
                    {"tags": {"key": "env", "values": [r.choice(ENVS)]}},
                    {"dimensions": {"key": "SERVICE", "values": [r.choice(WORDS)]}},
                ]
            }
        return [
            {
                "name": r.choice(("tag:Name", "vpc-id", "instance-state-name")),
                "values": [r.choice(WORDS), r.choice(ENVS)],
            }
        ]

    def _tags(self) -> Any:
        r = self.rng
        if r.random() < 0.5:
            return [
                {"key": "env", "value": r.choice(ENVS)},
                {"key": "team", "value": r.choice(WORDS)},
            ]
        return {
            "env": r.choice(ENVS),
            "team": r.choice(WORDS),
            "cost-center": str(r.randrange(1000, 9999)),
        }

    def _policy(self) -> str:
        r = self.rng
        doc = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": f"{r.choice(WORDS).title()}Access",
                    "Effect": "Allow",
                    "Action": [
                        f"{r.choice(SERVICE_NAMES)}:{r.choice(('Get', 'List', 'Put'))}*"
                        for _ in range(r.randrange(1, 5))
                    ],
                    "Resource": [f"arn:aws:s3:::{r.choice(self.ids['bucket'])}/*"],
                }
                for _ in range(r.randrange(1, 3))
            ],
        }
        return msgspec.json.encode(doc).decode()

    def params(self, svc: str, name: str) -> Json | None:
        r = self.rng
        verb = next((p for p in READ_PREFIXES if name.startswith(p)), "")
        if name in (
            "GetCallerIdentity",
            "ListBuckets",
            "GetAccountSummary",
            "GetAuthorizationToken",
        ):
            return None
        p: Json = {}
        res = RESOURCE_PARAM.get(svc)
        if svc == "ec2":
            if name.startswith("Describe"):
                p["instancesSet"] = {
                    "items": [
                        {"instanceId": r.choice(self.ids["instance"])}
                        for _ in range(r.randrange(0, 3))
                    ]
                }
                p["filterSet"] = (
                    {
                        "items": [
                            {
                                "name": "tag:Name",
                                "valueSet": {"items": [{"value": r.choice(WORDS)}]},
                            }
                        ]
                    }
                    if r.random() < 0.4
                    else {}
                )
            elif name in ("AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"):
                p["groupId"] = r.choice(self.ids["sg"])
                p["ipPermissions"] = {
                    "items": [
                        {
                            "ipProtocol": "tcp",
                            "fromPort": 443,
                            "toPort": 443,
                            "ipRanges": {"items": [{"cidrIp": f"{self._public_ip()}/32"}]},
                        }
                    ]
                }
            elif name.endswith("Volume") or name.endswith("Snapshot"):
                p["volumeId"] = r.choice(self.ids["volume"])
            elif name == "RunInstances":
                p.update(
                    {
                        "instancesSet": {
                            "items": [
                                {"imageId": f"ami-{self._hex(17)}", "minCount": 1, "maxCount": 1}
                            ]
                        },
                        "instanceType": r.choice(("t3.micro", "m6i.large", "c7g.xlarge")),
                        "subnetId": r.choice(self.ids["subnet"]),
                        "disableApiTermination": False,
                        "clientToken": self._uuid(),
                        "tagSpecificationSet": {
                            "items": [
                                {
                                    "resourceType": "instance",
                                    "tags": [{"key": "Name", "value": r.choice(WORDS)}],
                                }
                            ]
                        },
                    }
                )
            else:
                p["instancesSet"] = {"items": [{"instanceId": r.choice(self.ids["instance"])}]}
        elif res:
            key, pool = res
            if svc == "iam" and ("User" in name or "AccessKey" in name):
                p["userName"] = f"{r.choice(WORDS)}.{r.choice(WORDS)}"
            else:
                p[key] = r.choice(self.ids[pool])
        if verb in ("Describe", "List", "Lookup"):
            if r.random() < 0.5:
                p["maxResults"] = (
                    r.choice((50, 100, 1000)) if r.random() < 0.8 else str(r.choice((50, 100)))
                )
            if r.random() < 0.3:
                p["nextToken"] = self._b32(48)
            if r.random() < 0.3:
                p["filter"] = self._filter()
        elif verb == "":
            if r.random() < 0.4:
                p["tags"] = self._tags()
            if name.startswith(("Put", "Create")) and ("Policy" in name or svc in ("iam", "kms")):
                p["policyDocument"] = self._policy()
            if name.startswith(("Create", "Update", "Put")) and r.random() < 0.5:
                p["description"] = f"{r.choice(WORDS)} {r.choice(WORDS)} for {r.choice(ENVS)}"
        return p or None

    def response(self, svc: str, name: str, ident: Json) -> Json | None:
        r = self.rng
        if name.startswith("Assume") or name in ("GetSessionToken", "GetFederationToken"):
            return {
                "credentials": {
                    "accessKeyId": "ASIA" + self._b32(16),
                    "sessionToken": "IQoJb3JpZ2luX2Vj" + self._b32(200),
                    "expiration": "Sep 1, 2025, 6:12:33 AM",
                },
                "assumedRoleUser": {
                    "assumedRoleId": "AROA" + self._b32(17) + ":" + r.choice(WORDS),
                    "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/"
                    f"{r.choice(self.ids['role'])}/{r.choice(WORDS)}",
                },
            }
        if name == "ConsoleLogin":
            return {"ConsoleLogin": "Success" if r.random() < 0.95 else "Failure"}
        if name == "RunInstances":
            return {
                "requestId": self._uuid(),
                "reservationId": f"r-{self._hex(17)}",
                "ownerId": ACCOUNT,
                "groupSet": {},
                "instancesSet": {
                    "items": [
                        {
                            "instanceId": f"i-{self._hex(17)}",
                            "imageId": f"ami-{self._hex(17)}",
                            "instanceState": {"code": 0, "name": "pending"},
                            "privateDnsName": "ip-10-1-2-3.ec2.internal",
                            "amiLaunchIndex": 0,
                            "productCodes": {},
                            "instanceType": "m6i.large",
                            "launchTime": 1756684800000,
                            "placement": {"availabilityZone": "us-east-1a", "tenancy": "default"},
                            "monitoring": {"state": "disabled"},
                            "subnetId": r.choice(self.ids["subnet"]),
                            "privateIpAddress": f"10.1.2.{r.randrange(4, 255)}",
                            "stateReason": {"code": "pending", "message": "pending"},
                            "architecture": "x86_64",
                            "rootDeviceType": "ebs",
                            "rootDeviceName": "/dev/xvda",
                            "blockDeviceMapping": {},
                            "virtualizationType": "hvm",
                            "hypervisor": "xen",
                            "enaSupport": True,
                            "cpuOptions": {"coreCount": 1, "threadsPerCore": 2},
                            "metadataOptions": {
                                "state": "pending",
                                "httpTokens": "required",
                                "httpPutResponseHopLimit": 2,
                                "httpEndpoint": "enabled",
                            },
                        }
                    ]
                },
            }
        if name.startswith(("Create", "Run", "Start", "Put", "Update", "Register")):
            if r.random() < 0.6:
                return {
                    "requestId": self._uuid(),
                    "arn": f"arn:aws:{svc}:us-east-1:{ACCOUNT}:{r.choice(WORDS)}/{self._hex(12)}",
                    "creationDate": r.choice((1756684800, "Sep 1, 2025, 12:00:00 AM")),
                    "status": "CREATING",
                }
            return {"_return": True} if svc == "ec2" else None
        return None

    # -- records

    def record(self, t: float, region: str) -> Json:
        r = self.rng
        svc, name = self.events[_bisect(self.cum, r.random() * self.cum[-1])]
        ident = r.choice(self.identities)
        invoked = ident.get("invokedBy")
        if svc == "signin":
            name = "ConsoleLogin"
        ip = invoked or (r.choice(self.ips) if r.random() < 0.97 else f"{svc}.amazonaws.com")
        source = f"{svc}.amazonaws.com"
        rec: Json = {
            "eventVersion": r.choice(("1.08", "1.09", "1.09", "1.10", "1.11")),
            "userIdentity": ident,
            "eventTime": iso(t),
            "eventSource": source,
            "eventName": name,
            "awsRegion": "us-east-1" if svc in GLOBAL_SERVICES else region,
            "sourceIPAddress": ip,
            "userAgent": invoked or r.choice(self.agents),
        }
        if r.random() < 0.04:
            rec["errorCode"] = r.choice(
                (
                    "AccessDenied",
                    "ThrottlingException",
                    "Client.UnauthorizedOperation",
                    "NoSuchEntityException",
                    "ResourceNotFoundException",
                )
            )
            rec["errorMessage"] = (
                f"User: {ident.get('arn', 'unknown')} is not authorized to perform: {svc}:{name}"
            )
        rec["requestParameters"] = self.params(svc, name)
        rec["responseElements"] = None if "errorCode" in rec else self.response(svc, name, ident)
        if name == "ConsoleLogin":
            rec["additionalEventData"] = {
                "LoginTo": "https://console.aws.amazon.com/console/home",
                "MobileVersion": "No",
                "MFAUsed": r.choice(("Yes", "No")),
            }
        elif r.random() < 0.05:
            rec["additionalEventData"] = {
                "SignatureVersion": "SigV4",
                "bytesTransferredIn": 0,
                "AuthenticationMethod": "AuthHeader",
                "x-amz-id-2": self._b32(60),
            }
        rec["requestID"] = self._uuid()
        rec["eventID"] = self._uuid()
        rec["readOnly"] = name.startswith(READ_PREFIXES)
        if r.random() < 0.15:
            _, pool = RESOURCE_PARAM.get(svc, ("instanceId", "instance"))
            rec["resources"] = [
                {
                    "accountId": ACCOUNT,
                    "type": f"AWS::{svc.upper()}::Resource",
                    "ARN": f"arn:aws:{svc}:{region}:{ACCOUNT}:{r.choice(self.ids[pool])}",
                }
            ]
        rec["eventType"] = (
            "AwsConsoleSignIn"
            if name == "ConsoleLogin"
            else "AwsServiceEvent"
            if r.random() < 0.01
            else "AwsApiCall"
        )
        rec["managementEvent"] = True
        rec["recipientAccountId"] = ACCOUNT
        if invoked and r.random() < 0.5:
            rec["sharedEventID"] = self._uuid()
        if r.random() < 0.05:
            rec["vpcEndpointId"] = f"vpce-{self._hex(17)}"
            rec["vpcEndpointAccountId"] = ACCOUNT
        rec["eventCategory"] = "Management"
        if not ip.endswith(".amazonaws.com"):
            rec["tlsDetails"] = {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": f"{svc}.{region}.amazonaws.com",
            }
        if ident.get("type") == "AssumedRole" and r.random() < 0.1:
            rec["sessionCredentialFromConsole"] = "true"
        return rec

    def files(self) -> Iterator[tuple[str, bytes | memoryview, int]]:
        r = self.rng
        t = float(START)
        while True:
            for region in REGIONS:
                target = int(r.uniform(1, 5) * MB)  # uncompressed size, as real files
                n = max(1, target // 1400)
                times = sorted(t + r.uniform(0, 300) for _ in range(n))
                records = [self.record(ts, region) for ts in times]
                body = msgspec.json.encode({"Records": records})
                when = t + 300 + r.randrange(0, 120)
                suffix = "".join(
                    r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
                    for _ in range(16)
                )
                name = f"{ACCOUNT}_CloudTrail_{region}_{stamp(when)}_{suffix}.json.gz"
                yield f"AWSLogs/{ACCOUNT}/CloudTrail/{region}/{day(when)}/{name}", body, n
            t += 300


def _accumulate(values: list[float]) -> Iterator[float]:
    total = 0.0
    for v in values:
        total += v
        yield total


def _bisect(cum: list[float], x: float) -> int:
    lo, hi = 0, len(cum) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


# ================================================================== column-wise helpers


class Columns:
    """Random columns with pyarrow compute, from a seeded stream of SHAKE-128 bytes."""

    def __init__(self, rng: random.Random, n: int) -> None:
        self.seed = rng.getrandbits(64)
        self.count = 0
        self.n = n

    def u32(self) -> pa.Array:
        self.count += 1
        raw = hashlib.shake_128(f"{self.seed}/{self.count}".encode()).digest(4 * self.n)
        return pa.Array.from_buffers(pa.uint32(), self.n, [None, pa.py_buffer(raw)])

    def below(self, k: int) -> pa.Array:
        """Uniform integers in [0, k)."""
        return pc.shift_right(pc.multiply(pc.cast(self.u32(), pa.uint64()), k), 32)

    def skewed(self, k: int, power: float) -> pa.Array:
        """Integers in [0, k), small ones far more often (u ** power)."""
        u = pc.divide(pc.cast(self.u32(), pa.float64()), 2.0**32)
        return pc.cast(pc.floor(pc.multiply(pc.power(u, power), k)), pa.int64())

    def chance(self, p: float) -> pa.Array:
        return pc.less(self.u32(), int(p * 2**32))

    def pick(self, pool: pa.Array, power: float = 1.0) -> pa.Array:
        idx = self.below(len(pool)) if power == 1.0 else self.skewed(len(pool), power)
        return pc.take(pool, idx)


def text_of(lines: pa.Array) -> memoryview:
    """The bytes of a string array's values, end to end (each value ends with a newline)."""
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    offsets = memoryview(lines.buffers()[1]).cast("i")
    lo, hi = offsets[lines.offset], offsets[lines.offset + len(lines)]
    return memoryview(lines.buffers()[2])[lo:hi]


def ip_pool(rng: random.Random, n: int, firsts: tuple[int, ...]) -> pa.Array:
    return pa.array(
        [
            ".".join(
                map(
                    str,
                    (
                        rng.choice(firsts),
                        rng.randrange(256),
                        rng.randrange(256),
                        rng.randrange(1, 255),
                    ),
                )
            )
            for _ in range(n)
        ]
    )


# ================================================================== VPC flow logs

PUBLIC_FIRSTS = (
    3,
    13,
    18,
    20,
    23,
    31,
    34,
    35,
    37,
    40,
    44,
    46,
    52,
    54,
    62,
    66,
    72,
    77,
    81,
    82,
    85,
    89,
    91,
    93,
    94,
    99,
    104,
    107,
    108,
    128,
    140,
    142,
    151,
    157,
    162,
    172,
    176,
    178,
    185,
    188,
    192,
    193,
    194,
    195,
    199,
    205,
    208,
    209,
    212,
    213,
    216,
    217,
)
# (port, protocol, weight) of the server side of flows
SERVICE_PORTS = (
    (443, 6, 50),
    (80, 6, 8),
    (53, 17, 6),
    (123, 17, 2),
    (22, 6, 3),
    (5432, 6, 5),
    (3306, 6, 3),
    (6379, 6, 4),
    (8080, 6, 4),
    (8443, 6, 2),
    (9092, 6, 2),
    (2049, 6, 2),
    (27017, 6, 1),
    (9200, 6, 1),
    (3389, 6, 1),
    (445, 6, 1),
    (25, 6, 1),
    (11211, 6, 1),
    (1433, 6, 1),
    (10250, 6, 1),
    (0, 1, 1),
)
V5_FIELDS = (
    "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport "
    "dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags "
    "log-status region flow-direction"
)
V2_FIELDS = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
    "start end action log-status"
)


class FlowGenerator:
    def __init__(self, rng: random.Random, fmt: str, file_mb: float) -> None:
        self.rng = rng
        self.fmt = fmt
        self.rows = int(file_mb * MB / (105 if fmt == "v2" else 230))
        enis, ips, subnets, instances = [], [], [], []
        for v in range(4):  # four VPCs
            for s in range(8):
                subnet = f"subnet-{rng.getrandbits(68):017x}"
                for _ in range(80):
                    enis.append(f"eni-{rng.getrandbits(68):017x}")
                    ips.append(f"10.{v * 16 + s}.{rng.randrange(256)}.{rng.randrange(4, 255)}")
                    subnets.append(subnet)
                    instances.append(
                        f"i-{rng.getrandbits(68):017x}" if rng.random() < 0.85 else "-"
                    )
        self.enis, self.local_ips = pa.array(enis), pa.array(ips)
        self.subnets, self.instances = pa.array(subnets), pa.array(instances)
        self.vpcs = pa.array([f"vpc-{rng.getrandbits(68):017x}" for _ in range(4)])
        self.public = ip_pool(rng, 200_000, PUBLIC_FIRSTS)
        weighted = [(p, proto) for p, proto, w in SERVICE_PORTS for _ in range(w)]
        self.svc_ports = pa.array([str(p) for p, _ in weighted])
        self.svc_protos = pa.array([str(proto) for _, proto in weighted])
        self.flow_log = f"fl-{rng.getrandbits(68):017x}"

    def lines(self, t0: int, region: str) -> tuple[memoryview, int]:
        n = self.rows
        c = Columns(self.rng, n)
        eni_idx = c.skewed(len(self.enis), 1.6)
        eni_idx = pc.take(eni_idx, pc.sort_indices(eni_idx))  # files list an ENI's flows together
        local = pc.take(self.local_ips, eni_idx)
        internal = c.chance(0.25)
        remote = pc.if_else(internal, c.pick(self.local_ips), c.pick(self.public, 2.5))
        egress = c.chance(0.5)
        src = pc.if_else(egress, local, remote)
        dst = pc.if_else(egress, remote, local)
        svc = c.below(len(self.svc_ports))
        port = pc.take(self.svc_ports, svc)
        proto = pc.take(self.svc_protos, svc)
        ephemeral = pc.cast(pc.add(c.below(28232), 32768), pa.string())
        to_server = c.chance(0.5)  # a request (client -> server) or a reply
        sport = pc.if_else(to_server, ephemeral, port)
        dport = pc.if_else(to_server, port, ephemeral)
        reject = c.chance(0.04)
        packets = pc.if_else(reject, pc.add(c.below(2), 1), pc.add(c.skewed(5000, 10.0), 1))
        size = pc.multiply(packets, pc.add(c.below(1420), 40))
        start = pc.add(c.below(600), t0)
        end = pc.add(start, c.below(60))
        action = pc.if_else(reject, "REJECT", "ACCEPT")
        nodata = c.chance(0.003)
        dash = pa.scalar("-")

        def field(col: pa.Array) -> pa.Array:
            return pc.if_else(nodata, dash, pc.cast(col, pa.string()))

        status = pc.if_else(nodata, "NODATA", "OK")
        if self.fmt == "v2":
            cols = [
                pa.scalar("2"),
                pa.scalar(ACCOUNT),
                pc.take(self.enis, eni_idx),
                field(src),
                field(dst),
                field(sport),
                field(dport),
                field(proto),
                field(packets),
                field(size),
                pc.cast(start, pa.string()),
                pc.cast(end, pa.string()),
                field(action),
                pc.binary_join_element_wise(status, "", "\n"),
            ]
        else:
            vpc = pc.take(self.vpcs, pc.divide(eni_idx, 640))
            flags = pc.if_else(pc.equal(proto, "6"), pc.if_else(to_server, "3", "19"), "0")
            cols = [
                pa.scalar("5"),
                vpc,
                pc.take(self.subnets, eni_idx),
                pc.take(self.instances, eni_idx),
                pc.take(self.enis, eni_idx),
                pa.scalar(ACCOUNT),
                pc.if_else(nodata, dash, pa.scalar("IPv4")),
                field(src),
                field(dst),
                field(sport),
                field(dport),
                field(src),
                field(dst),
                field(proto),
                field(size),
                field(packets),
                pc.cast(start, pa.string()),
                pc.cast(end, pa.string()),
                field(action),
                field(flags),
                status,
                pa.scalar(region),
                pc.binary_join_element_wise(
                    pc.if_else(nodata, dash, pc.if_else(egress, "egress", "ingress")), "", "\n"
                ),
            ]
        lines = pc.binary_join_element_wise(*cols, " ")
        return text_of(lines), n

    def files(self) -> Iterator[tuple[str, bytes | memoryview, int]]:
        t = START
        header = (V2_FIELDS if self.fmt == "v2" else V5_FIELDS) + "\n"
        while True:
            for region in REGIONS[:2]:
                body, n = self.lines(t, region)
                when = t + 600 + self.rng.randrange(0, 240)
                tail = f"{stamp(when)}_{self.rng.getrandbits(32):08x}"
                name = f"{ACCOUNT}_vpcflowlogs_{region}_{self.flow_log}_{tail}.log.gz"
                data = header.encode() + bytes(body)
                yield f"AWSLogs/{ACCOUNT}/vpcflowlogs/{region}/{day(when)}/{name}", data, n
            t += 600


# ================================================================== Resolver query logs

POPULAR = words(
    "github.com. api.github.com. objects.githubusercontent.com. pypi.org. "
    "files.pythonhosted.org. registry-1.docker.io. auth.docker.io. "
    "production.cloudflare.docker.com. registry.npmjs.org. api.stripe.com. hooks.slack.com. "
    "www.google.com. oauth2.googleapis.com. login.microsoftonline.com. api.datadoghq.com. "
    "http-intake.logs.datadoghq.com. sentry.io. api.segment.io. cdn.jsdelivr.net. "
    "fonts.googleapis.com. ocsp.digicert.com. ocsp.r2m03.amazontrust.com. "
    "time.cloudflare.com. deb.debian.org. security.ubuntu.com. archive.ubuntu.com. "
    "dl-cdn.alpinelinux.org. quay.io. gcr.io. ghcr.io. repo.maven.apache.org. "
    "proxy.golang.org."
)
AWS_SERVICES = words(
    "ssm ec2messages ssmmessages logs monitoring sts s3 sqs sns kms secretsmanager dynamodb "
    "ecr api.ecr dkr.ecr ecs lambda events kinesis firehose elasticloadbalancing"
)
TLDS = ("com", "net", "io", "org", "dev", "app", "co", "cloud")


class DnsGenerator:
    def __init__(self, rng: random.Random, file_mb: float) -> None:
        self.rng = rng
        self.rows = int(file_mb * MB / 420)
        frags = self._queries()
        self.queries = pa.array(frags)
        srcs: list[str] = []
        for _ in range(2000):
            ip = f"10.{rng.randrange(64)}.{rng.randrange(256)}.{rng.randrange(4, 255)}"
            srcs.append(f'"srcaddr":"{ip}","srcport":"')
        self.instances = [
            f'","transport":"UDP","srcids":{{"instance":"i-{rng.getrandbits(68):017x}"}}}}\n'
            for _ in range(2000)
        ]
        self.srcs = pa.array(srcs)
        self.tails = pa.array(self.instances)
        self.vpcs = [f"vpc-{rng.getrandbits(68):017x}" for _ in range(4)]

    def _answer(self, kind: str, data: str) -> str:
        return f'{{"Rdata":"{data}","Type":"{kind}","Class":"IN"}}'

    def _a(self) -> str:
        r = self.rng
        return (
            f"{r.choice(PUBLIC_FIRSTS)}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}"
        )

    def _frag(self, name: str, qtype: str, rcode: str, answers: list[str], fw: str = "") -> str:
        return (
            f'"query_name":"{name}","query_type":"{qtype}","query_class":"IN","rcode":"{rcode}",'
            f'"answers":[{",".join(answers)}]{fw},'
        )

    def _queries(self) -> list[str]:
        r = self.rng
        out: list[str] = []
        for region in REGIONS:
            for svc in AWS_SERVICES:
                name = f"{svc}.{region}.amazonaws.com."
                out.append(
                    self._frag(
                        name,
                        "A",
                        "NOERROR",
                        [self._answer("A", self._a()) for _ in range(r.randrange(1, 4))],
                    )
                )
                out.append(self._frag(name, "AAAA", "NOERROR", []))
        for name in POPULAR:
            chain = (
                [
                    self._answer(
                        "CNAME",
                        f"{name.split('.')[0]}.edge.{r.choice(('fastly', 'akamai'))}.net.",
                    )
                ]
                if r.random() < 0.4
                else []
            )
            out.append(
                self._frag(
                    name,
                    "A",
                    "NOERROR",
                    chain + [self._answer("A", self._a()) for _ in range(r.randrange(1, 5))],
                )
            )
            out.append(self._frag(name, "AAAA", "NOERROR", chain))
            # Kubernetes search path: the name tried under each cluster domain first
            for suffix in (
                "default.svc.cluster.local.",
                "svc.cluster.local.",
                "cluster.local.",
                "ec2.internal.",
            ):
                out.append(self._frag(name + suffix, "A", "NXDOMAIN", []))
        for _ in range(20_000):  # the long tail
            host = f"{r.choice(WORDS)}-{r.randrange(100)}"
            name = f"{host}.{r.choice(WORDS)}{r.choice(WORDS)}.{r.choice(TLDS)}."
            if r.random() < 0.1:
                out.append(self._frag(name, "A", "NXDOMAIN", []))
            else:
                out.append(
                    self._frag(
                        name,
                        "A",
                        "NOERROR",
                        [self._answer("A", self._a()) for _ in range(r.randrange(1, 3))],
                    )
                )
        for _ in range(3000):
            a, b, c = r.randrange(256), r.randrange(256), r.randrange(256)
            out.append(
                self._frag(
                    f"{c}.{b}.{a}.10.in-addr.arpa.",
                    "PTR",
                    "NOERROR",
                    [self._answer("PTR", f"ip-10-{a}-{b}-{c}.ec2.internal.")],
                )
            )
        for _ in range(200):
            fw = (
                ',"firewall_rule_action":"BLOCK","firewall_rule_group_id":"rslvr-frg-0123456789abcdef",'
                '"firewall_domain_list_id":"rslvr-fdl-0123456789abcdef"'
            )
            out.append(
                self._frag(
                    f"{r.choice(WORDS)}{r.randrange(999)}.bad-{r.choice(WORDS)}.xyz.",
                    "A",
                    "NXDOMAIN",
                    [],
                    fw,
                )
            )
        popular = out[: len(REGIONS) * len(AWS_SERVICES) * 2 + len(POPULAR) * 6]
        r.shuffle(popular)
        tail = out[len(popular) :]
        r.shuffle(tail)
        return popular + tail  # skewed picks favour the front

    def lines(self, t0: int, region: str, vpc: str) -> tuple[memoryview, int]:
        n = self.rows
        c = Columns(self.rng, n)
        stamps = pa.array(
            [
                f'{{"version":"1.100000","account_id":"{ACCOUNT}","region":"{region}",'
                f'"vpc_id":"{vpc}","query_timestamp":"{iso(t0 + s)}",'
                for s in range(600)
            ]
        )
        seconds = c.below(600)
        ts = pc.take(stamps, pc.take(seconds, pc.sort_indices(seconds)))  # in time order
        src = c.below(len(self.srcs))
        cols = [
            ts,
            c.pick(self.queries, 3.0),
            pc.take(self.srcs, src),
            pc.cast(pc.add(c.below(28232), 32768), pa.string()),
            pc.take(self.tails, src),
        ]
        lines = pc.binary_join_element_wise(*cols, "")
        return text_of(lines), n

    def files(self) -> Iterator[tuple[str, bytes | memoryview, int]]:
        t = START
        while True:
            for i, vpc in enumerate(self.vpcs):
                region = REGIONS[i % 2]
                body, n = self.lines(t, region, vpc)
                when = t + 600 + self.rng.randrange(0, 180)
                tail = f"{stamp(when)}_{self.rng.getrandbits(32):08x}"
                name = f"{vpc}_vpcdnsquerylogs_{ACCOUNT}_{tail}.log.gz"
                yield f"AWSLogs/{ACCOUNT}/vpcdnsquerylogs/{vpc}/{day(when)}/{name}", body, n
            t += 600


# ================================================================== main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="output folder")
    ap.add_argument("--log-type", required=True, choices=("cloudtrail", "vpcflow", "dns"))
    ap.add_argument("--mb", type=float, required=True, help="compressed megabytes to write")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--file-mb",
        type=float,
        default=None,
        help="uncompressed MB per file (vpcflow: 64, dns: 32; CloudTrail: 1-5 at random)",
    )
    ap.add_argument("--flow-format", choices=("v2", "v5"), default="v2")
    ap.add_argument("--level", type=int, default=3, choices=(0, 1, 2, 3), help="ISA-L gzip level")
    args = ap.parse_args(argv)

    rng = random.Random(f"{args.seed}/{args.log_type}")
    files: Iterator[tuple[str, bytes | memoryview, int]]
    if args.log_type == "cloudtrail":
        files = CloudTrailGenerator(rng).files()
    elif args.log_type == "vpcflow":
        files = FlowGenerator(rng, args.flow_format, args.file_mb or 64).files()
    else:
        files = DnsGenerator(rng, args.file_mb or 32).files()
    writer = Writer(args.out, args.mb, args.level)
    began = time.perf_counter()
    for rel, data, events in files:
        writer.write(rel, data, events)
        if writer.done:
            break
    took = time.perf_counter() - began
    print(
        f"{args.log_type}: {writer.files} files, {writer.events:,} events, "
        f"{writer.written / MB:.1f} MB compressed, {writer.raw / MB:.1f} MB uncompressed "
        f"(ratio {writer.raw / max(1, writer.written):.1f}), {took:.1f} s "
        f"({writer.raw / MB / took:.0f} MB/s uncompressed)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

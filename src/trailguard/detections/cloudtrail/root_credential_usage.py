"""Policy:IAMUser/RootCredentialUsage - the account's root user made an API call."""

from trailguard.detect.detection import DetectionMeta, EventDetection

DETECTION = EventDetection(
    meta=DetectionMeta(
        id="root_credential_usage",
        finding_type="Policy:IAMUser/RootCredentialUsage",
        severity=2.0,
        title="API {api} was invoked using root credentials.",
        description=(
            "API {eventName} of {eventSource} was invoked using the root credentials of "
            "account {account} from {ip}. Root credentials should not be used for "
            "everyday work."
        ),
        log_type="cloudtrail",
        resource_type="AccessKey",
        mitre=("T1078.004",),
        false_positives=(
            "Tasks that only the root user can do (closing the account, changing the "
            "support plan); archive or suppress them when expected.",
        ),
        references=(
            "https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_finding-types-iam.html",
        ),
    ),
    # calls AWS services make on the root user's behalf carry invokedBy
    where=(
        '"userIdentity"."type" = \'Root\' AND "userIdentity"."invokedBy" IS NULL '
        "AND coalesce(\"eventType\", '') <> 'AwsServiceEvent'"
    ),
)

"""The UpdateSAMLProvider rule of update_saml_provider.yml, written as a Python rule."""

from trailguard.detect.detection import DetectionMeta, EventDetection

DETECTION = EventDetection(
    meta=DetectionMeta(
        id="saml_provider_changed",
        finding_type="Persistence:IAMUser/SAMLProviderChanged",
        severity=8.0,
        title="SAML provider changed by {principal}.",
        description="{principal} called UpdateSAMLProvider from {ip}.",
        log_type="cloudtrail",
        resource_type="AccessKey",
        mitre=("T1484.002",),
    ),
    where="\"eventName\" = 'UpdateSAMLProvider'",
)

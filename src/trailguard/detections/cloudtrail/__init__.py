"""Built-in detections over cloudtrail logs."""

from typing import Final

#: a reconnaissance call, as GuardDuty's Recon:IAMUser findings count them: List, Describe, Get
RECON_CALL: Final = "regexp_matches(\"eventName\", '^(List|Describe|Get)')"

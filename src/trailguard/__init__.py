"""trailguard: self-hosted threat detection for AWS accounts."""

__version__ = "0.1.0"

"""Enrichment: threat and trusted lists, GeoIP/ASN and AWS ranges, as columns added to a batch."""

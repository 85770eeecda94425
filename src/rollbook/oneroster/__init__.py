"""The OneRoster standard: reading, validating and generating CSV bundles. No Django here."""

"""The merge process: pre-sync students merged into their synced twins (not built yet)."""

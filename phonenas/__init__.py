"""PhoneNAS CLI and end-to-end pipeline (composes search, latency, deploy and android_bench)."""

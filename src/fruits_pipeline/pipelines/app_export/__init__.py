"""The on-device app model made from the published model bundle."""

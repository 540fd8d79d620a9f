"""The camera daemon: detection, tracking, zones, dwell and waits, over MQTT (``docs/vision.md``)."""

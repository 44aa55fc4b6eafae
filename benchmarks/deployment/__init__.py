"""What it takes to deploy and run for real: install size and start-up, a site of cameras, the
history store, the MQTT bridge, and what a training config costs on this machine."""

"""What runs in a hall next to the cameras and devices: the vision daemon, the device agent, the simulator."""

"""Many cameras on one box: the site file and the supervisor that runs one process per camera."""

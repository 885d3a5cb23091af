"""The reader run as a long-lived service next to the rowing machine.

config    the one typed configuration file (TOML or JSON), checked at start
camera    a source wrapper that survives a camera disappearing, stalling or sending garbage
hotswap   watches `models/current`, loads and warms a new model beside the running one
systemd   the sd_notify protocol (READY, WATCHDOG, STATUS, STOPPING) with no extra dependency
limits    keeps the database and the queued frames under their configured size
status    the heartbeat row a running service writes and `segread status` reads
service   the wiring: one loop over frames, signals, session exports
"""

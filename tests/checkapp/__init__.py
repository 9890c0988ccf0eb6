"""An installed app whose hubs module nothing imports: only the system checks' autodiscovery finds it."""

"""A project package that is no installed app (as ``startproject`` makes ``mysite``): its hubs module is found
through ``ASGI_APPLICATION``."""

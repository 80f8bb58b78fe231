"""The console's file store, opened with the application and closed with it."""

from aiohttp import web

from storage.files import FileStore

FILES = web.AppKey("griddispatch_console_files", FileStore)

from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    name = "rollbook.directory"
    label = "directory"
    verbose_name = "Directory"

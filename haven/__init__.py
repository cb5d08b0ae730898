"""Haven launcher and operator CLI.

Generated protobuf modules live under the same top-level name (``haven.<svc>.v1``) in the
gitignored ``gen/`` folder; extend the package path so both halves import as one package.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

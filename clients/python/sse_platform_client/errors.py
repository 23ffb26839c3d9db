"""The errors the client raises: one base class, one subclass per way a
request can fail, so that a module can tell "try again later" from "fix
your configuration"."""


class ClientError(Exception):
    """Base class of every error this package raises."""


class ConfigError(ClientError):
    """The module's name, key, address or a limit is missing or malformed.
    Raised before anything connects; the message names the argument or the
    environment variable."""


class ConnectError(ClientError):
    """The client could not connect and register with the platform in time
    (the message says what went wrong last: refused connection, TLS,
    a refused ``module_start``)."""


class ConnectionLost(ClientError):
    """The connection ended before the platform answered this request.
    The request may or may not have been carried out."""


class RequestTimeout(ClientError, TimeoutError):
    """No answer within the request's timeout (or no connection to send it
    on within that time)."""

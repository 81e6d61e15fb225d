"""How every Kafka client Vigil builds connects: TLS, mutual TLS and SASL, from the `kafka.*`
settings, as keyword arguments for aiokafka and kafka-python and as Faust's credentials.

This is the one place that turns those settings into client options; every client
construction passes them on (tests/streams/test_security.py checks the sources for it).
PLAINTEXT gives no options at all, so such clients are built exactly as without it.
"""

from __future__ import annotations

import ssl
from typing import Any

from config.settings import Settings, SettingsError

TLS_PROTOCOLS = ("SSL", "SASL_SSL")
SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")


def _checked(settings: Settings) -> Any:
    """Return the kafka section once its security settings agree with each other; raise
    SettingsError (one line, naming the settings) when they do not."""
    k = settings.kafka
    proto = k.security_protocol
    tls_files = [f"kafka.{n}" for n in ("ssl_cafile", "ssl_certfile", "ssl_keyfile")
                 if getattr(k, n)]
    if tls_files and proto not in TLS_PROTOCOLS:
        raise SettingsError(f"{', '.join(tls_files)} set, but kafka.security_protocol is "
                            f"{proto}: use SSL or SASL_SSL (or clear them)")
    if k.ssl_keyfile and not k.ssl_certfile:
        raise SettingsError("kafka.ssl_keyfile is set without kafka.ssl_certfile")
    sasl_set = [f"kafka.{n}" for n in ("sasl_mechanism", "sasl_username", "sasl_password")
                if getattr(k, n)]
    if proto in SASL_PROTOCOLS:
        if not (k.sasl_mechanism and k.sasl_username):
            raise SettingsError(f"kafka.security_protocol {proto} needs kafka.sasl_mechanism "
                                "(PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512) and kafka.sasl_username")
    elif sasl_set:
        raise SettingsError(f"{', '.join(sasl_set)} set, but kafka.security_protocol is "
                            f"{proto}: use SASL_PLAINTEXT or SASL_SSL (or clear them)")
    return k


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """Return the TLS context of the SSL and SASL_SSL protocols (None for the others): the
    brokers' certificates verified against kafka.ssl_cafile (else the system's CAs), host
    names checked, and the client certificate of mutual TLS when kafka.ssl_certfile is set.
    A file that cannot be read raises SettingsError naming the setting."""
    k = _checked(settings)
    if k.security_protocol not in TLS_PROTOCOLS:
        return None
    try:
        context = ssl.create_default_context(cafile=k.ssl_cafile or None)
    except OSError as exc:  # ssl.SSLError is an OSError
        raise SettingsError(f"kafka.ssl_cafile {k.ssl_cafile!r}: {exc}") from None
    if k.ssl_certfile:
        try:
            context.load_cert_chain(k.ssl_certfile, k.ssl_keyfile or None)
        except OSError as exc:
            raise SettingsError(f"kafka.ssl_certfile {k.ssl_certfile!r} / kafka.ssl_keyfile "
                                f"{k.ssl_keyfile!r}: {exc}") from None
    return context


def _sasl(k: Any) -> dict[str, Any]:
    if k.security_protocol not in SASL_PROTOCOLS:
        return {}
    # Both libraries take SCRAM's credentials under the "plain" names too.
    return {"sasl_mechanism": k.sasl_mechanism, "sasl_plain_username": k.sasl_username,
            "sasl_plain_password": k.sasl_password}


def aiokafka_security(settings: Settings | None) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client (consumer, producer, admin); {} for
    PLAINTEXT or no settings."""
    if settings is None or _checked(settings).security_protocol == "PLAINTEXT":
        return {}
    k = settings.kafka
    options: dict[str, Any] = {"security_protocol": k.security_protocol}
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    return options | _sasl(k)


def kafka_python_security(settings: Settings | None) -> dict[str, Any]:
    """Keyword arguments for any kafka-python client (consumer, producer, admin); {} for
    PLAINTEXT or no settings. The files are read here once, so a bad one is reported as a
    setting rather than as a failed connection."""
    if settings is None or _checked(settings).security_protocol == "PLAINTEXT":
        return {}
    k = settings.kafka
    options: dict[str, Any] = {"security_protocol": k.security_protocol}
    if ssl_context(settings) is not None:
        options |= {"ssl_check_hostname": True, "ssl_cafile": k.ssl_cafile or None,
                    "ssl_certfile": k.ssl_certfile or None, "ssl_keyfile": k.ssl_keyfile or None}
    return options | _sasl(k)


def faust_credentials(settings: Settings) -> Any:
    """Return Faust's `broker_credentials` (faust.SSLCredentials or faust.SASLCredentials,
    which Faust hands to the aiokafka clients of its consumer, producer and topic creation),
    or None for PLAINTEXT."""
    k = _checked(settings)
    if k.security_protocol == "PLAINTEXT":
        return None
    import faust  # only the worker needs it; the CLI's clients should not pay its import

    context = ssl_context(settings)
    if k.security_protocol == "SSL":
        return faust.SSLCredentials(context)
    # With a context Faust's SASL credentials are SASL_SSL, without one SASL_PLAINTEXT.
    return faust.SASLCredentials(username=k.sasl_username, password=k.sasl_password,
                                 ssl_context=context, mechanism=k.sasl_mechanism)


def describe(settings: Settings) -> str:
    """Return how the clients connect, for a log line (no secret in it)."""
    k = _checked(settings)
    parts = [k.security_protocol]
    if k.security_protocol in TLS_PROTOCOLS:
        parts.append(f"CA {k.ssl_cafile or 'system'}")
        if k.ssl_certfile:
            parts.append(f"client certificate {k.ssl_certfile}")
    if k.security_protocol in SASL_PROTOCOLS:
        parts.append(f"SASL {k.sasl_mechanism} as {k.sasl_username}")
    return ", ".join(parts)

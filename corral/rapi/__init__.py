"""Ganeti's remote API (RAPI v2) served by the master: HTTPS, Basic authentication,
a declarative route table (:mod:`corral.rapi.routes`) over the LUXI methods, and
an OpenAPI document generated from that table."""

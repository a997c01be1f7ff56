"""`kauppa demo`: a realistic scenario played against a running `kauppa run`, through the
public interfaces only.

Upstream systems, the ERP, the CRM and some sellers' tools send contract events to Kafka;
ops and sellers call the services' HTTP APIs. The demo reads the topics (like any other
consumer) to know when the flow has moved on, and stamps its events with the services'
business clock (the same accelerated clock `kauppa run` gives the services).

The story: two sales organisations set up their sellers, seller cards, bundle prices and
confirmation policies; a few hundred leads arrive from three sources of clearly different
quality (a good inside-sales team, an average marketing automation, a poor outsourced
partner); sellers accept or return them with reasons; deals get contacts, offers, upsell
lines and referrals and are closed with signature evidence or lost; the written
confirmations go out; the ERP reports deliveries; sellers make the feedback calls (some
find problems, which are then fixed) and set next contacts; and one external event (a law
change) starts a segment campaign for manufacturing customers.
"""

from kauppa.cli.demo.client import Api, DemoError, request_riding_out_restarts
from kauppa.cli.demo.run import run_demo

__all__ = ["Api", "DemoError", "request_riding_out_restarts", "run_demo"]

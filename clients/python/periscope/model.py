"""Typed values for views and changes, and a Topology that applies changes to a snapshot."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


@dataclass(frozen=True)
class Node:
    """One node of a view: a process, a group of processes, a host, or a pseudo node."""
    id: str
    label: str
    label_minor: str
    kind: str
    pseudo: bool
    metadata: Dict[str, Any]
    metrics: Dict[str, Any]
    parents: Dict[str, List[str]]
    raw: Dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, obj: Dict[str, Any]) -> "Node":
        return cls(id=obj["id"], label=obj.get("label", obj["id"]), label_minor=obj.get("labelMinor", ""),
                   kind=obj.get("kind", ""), pseudo=bool(obj.get("pseudo", False)),
                   metadata=obj.get("metadata", {}), metrics=obj.get("metrics", {}),
                   parents=obj.get("parents", {}), raw=obj)


@dataclass(frozen=True)
class Edge:
    """A directed edge from the client side (`source`) to the server side (`target`)."""
    id: str
    source: str
    target: str
    protocols: List[str]
    ports: List[int]
    connections: int
    closed: bool
    bytes_per_second: Optional[float]
    rtt_millis: Optional[float]
    raw: Dict[str, Any] = field(repr=False, compare=False)
    #: What flows on the edge (issue 14): {protocol, requestsPerSecond, errorsPerSecond, latencyP50Ms, ...}.
    l7: Optional[Dict[str, Any]] = None

    @classmethod
    def from_json(cls, obj: Dict[str, Any]) -> "Edge":
        return cls(id=obj["id"], source=obj["source"], target=obj["target"],
                   protocols=list(obj.get("protocols", [])), ports=list(obj.get("ports", [])),
                   connections=int(obj.get("connections", 0)), closed=bool(obj.get("closed", False)),
                   bytes_per_second=obj.get("bytesPerSecond"), rtt_millis=obj.get("rttMillis"), raw=obj,
                   l7=obj.get("l7"))


@dataclass
class View:
    """A rendered view at one revision: nodes and edges by id. A past view (`get(..., at=...)`) has no
    revision (0) and says its instant in `at`."""
    view: str
    revision: int
    nodes: Dict[str, Node]
    edges: Dict[str, Edge]
    at: Optional[str] = None

    @classmethod
    def from_json(cls, obj: Dict[str, Any]) -> "View":
        return cls(view=obj.get("view", ""), revision=int(obj.get("revision", 0)),
                   nodes={n["id"]: Node.from_json(n) for n in obj.get("nodes", [])},
                   edges={e["id"]: Edge.from_json(e) for e in obj.get("edges", [])}, at=obj.get("at"))


@dataclass(frozen=True)
class Diff:
    """A `topology/diff` answer: added (as at `to`), removed (as they were at `from`), updated (as at `to`)."""
    view: str
    from_: str
    to: str
    added_nodes: List[Node]
    added_edges: List[Edge]
    removed_nodes: List[Node]
    removed_edges: List[Edge]
    updated_nodes: List[Node]
    updated_edges: List[Edge]

    @classmethod
    def from_json(cls, obj: Dict[str, Any]) -> "Diff":
        part = lambda key, kind, parse: [parse(x) for x in obj.get(key, {}).get(kind, [])]
        return cls(view=obj.get("view", ""), from_=obj.get("from", ""), to=obj.get("to", ""),
                   added_nodes=part("added", "nodes", Node.from_json), added_edges=part("added", "edges", Edge.from_json),
                   removed_nodes=part("removed", "nodes", Node.from_json),
                   removed_edges=part("removed", "edges", Edge.from_json),
                   updated_nodes=part("updated", "nodes", Node.from_json),
                   updated_edges=part("updated", "edges", Edge.from_json))


@dataclass(frozen=True)
class Change:
    """One `topology/changed` notification. On `reset`, `added` is the whole new state."""
    subscription: str
    revision: int
    previous_revision: int
    added_nodes: List[Node]
    added_edges: List[Edge]
    updated_nodes: List[Node]
    updated_edges: List[Edge]
    removed_nodes: List[str]
    removed_edges: List[str]
    reset: bool

    @classmethod
    def from_json(cls, obj: Dict[str, Any]) -> "Change":
        added, updated, removed = obj.get("added", {}), obj.get("updated", {}), obj.get("removed", {})
        return cls(subscription=obj["subscription"], revision=int(obj["revision"]),
                   previous_revision=int(obj.get("previousRevision", 0)),
                   added_nodes=[Node.from_json(n) for n in added.get("nodes", [])],
                   added_edges=[Edge.from_json(e) for e in added.get("edges", [])],
                   updated_nodes=[Node.from_json(n) for n in updated.get("nodes", [])],
                   updated_edges=[Edge.from_json(e) for e in updated.get("edges", [])],
                   removed_nodes=list(removed.get("nodes", [])), removed_edges=list(removed.get("edges", [])),
                   reset=bool(obj.get("reset", False)))


class Topology(View):
    """A view kept current by applying changes to a snapshot (what a subscriber holds)."""

    @classmethod
    def from_snapshot(cls, obj: Dict[str, Any]) -> "Topology":
        view = View.from_json(obj)
        return cls(view=view.view, revision=view.revision, nodes=view.nodes, edges=view.edges)

    def apply(self, change: Change) -> None:
        if change.reset:
            self.nodes, self.edges = {}, {}
        for node_id in change.removed_nodes:
            self.nodes.pop(node_id, None)
        for edge_id in change.removed_edges:
            self.edges.pop(edge_id, None)
        for node in change.added_nodes + change.updated_nodes:
            self.nodes[node.id] = node
        for edge in change.added_edges + change.updated_edges:
            self.edges[edge.id] = edge
        self.revision = change.revision

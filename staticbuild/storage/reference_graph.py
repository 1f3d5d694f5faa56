"""The order in which the manifest engine rewrites: each file after the files it names.

Django reaches the same result by repeating passes until nothing changes; as a graph the
order is known up front, and a cycle (where Django gives up) is found and named.
"""

from __future__ import annotations


def levels(graph: dict[str, list[str]]) -> list[list[str]]:
    """The files in rounds: each after every file it names, so a round's files can be
    rewritten side by side."""
    depth: dict[str, int] = {}
    order = _post_order(graph)
    for n in order:
        depth[n] = 1 + max((depth[d] for d in graph[n]), default=-1)
    rounds: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for n in order:
        rounds[depth[n]].append(n)
    return rounds


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle of references, as the path that closes it (first node repeated), or None."""
    state: dict[str, int] = {}
    for root in sorted(graph):
        if root not in state:
            cycle = _cycle_from(graph, root, state)
            if cycle:
                return cycle
    return None


def _cycle_from(graph: dict[str, list[str]], start: str, state: dict[str, int]) -> list[str] | None:
    stack: list[tuple[str, int]] = [(start, 0)]
    path = [start]
    state[start] = 1
    while stack:
        node, i = stack[-1]
        succ = graph.get(node, [])
        if i == len(succ):
            stack.pop()
            path.pop()
            state[node] = 2
            continue
        stack[-1] = (node, i + 1)
        nxt = succ[i]
        if state.get(nxt) == 1:
            return [*path[path.index(nxt) :], nxt]
        if nxt not in state:
            state[nxt] = 1
            stack.append((nxt, 0))
            path.append(nxt)
    return None


def _post_order(graph: dict[str, list[str]]) -> list[str]:
    """Post-order: every file after the files whose final names it needs."""
    order: list[str] = []
    done: set[str] = set()
    for root in sorted(graph):
        if root in done:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        done.add(root)
        while stack:
            node, i = stack[-1]
            succ = graph[node]
            if i == len(succ):
                stack.pop()
                order.append(node)
                continue
            stack[-1] = (node, i + 1)
            if succ[i] not in done:
                done.add(succ[i])
                stack.append((succ[i], 0))
    return order

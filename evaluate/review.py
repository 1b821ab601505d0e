"""A run's clusters as a user corrects them: move, merge, rename, mark outliers, undo, save.

Stage 04's review lists come with it: the near-duplicate groups (``duplicates.csv``; keeping
one image puts the whole group in its cluster) and the images farthest from their cluster
(``outliers.csv``).

The state starts from ``RUN_DIR/clusters.csv`` (or from ``clusters_reviewed.csv`` when an earlier
review was saved, so a review resumes) and is saved beside it, never over it:
``clusters_reviewed.csv`` (file, cluster, name) and ``labels_pred_reviewed.txt`` (one cluster
per line in ``img_paths.txt`` order, the competition's format). Cluster -1 holds the outliers.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterable

from common.atomic_io import atomic_write_csv, atomic_write_text, read_csv_rows
from common.errors import SomclustError
from preprocess.labels import read_labels

REVIEWED_CSV = "clusters_reviewed.csv"
REVIEWED_LINES = "labels_pred_reviewed.txt"
OUTLIERS = -1
UNDO_DEPTH = 100


class ReviewState:
    """The clusters of one run under review (``work_dir``: stage 00's outputs; ``run_dir``:
    stage 04's). Every change can be undone; nothing is written before :meth:`save`."""

    def __init__(self, work_dir: str | Path, run_dir: str | Path):
        self.work_dir, self.run_dir = Path(work_dir), Path(run_dir)
        clusters_csv = self.run_dir / "clusters.csv"
        if not clusters_csv.exists():
            raise SomclustError(f"{clusters_csv} not found: run 04_cluster.py (somclust cluster) "
                                "first")
        rows = read_csv_rows(clusters_csv)
        self.files = [r["file"] for r in rows]
        self.som_node = {r["file"]: int(r["som_node"]) for r in rows}
        self.cluster_of = {r["file"]: int(r["cluster"]) for r in rows}
        self.names: dict[int, str] = {}
        self.true_label = {i.file: i.label for i in read_labels(self.work_dir) if i.label}
        reviewed = self.run_dir / REVIEWED_CSV
        if reviewed.exists():
            for row in read_csv_rows(reviewed):
                if row["file"] in self.cluster_of:
                    self.cluster_of[row["file"]] = int(row["cluster"])
                    if row["name"]:
                        self.names[int(row["cluster"])] = row["name"]
        self._history: list[tuple[dict[str, int], dict[int, str]]] = []
        self.groups = self._read_groups(self.run_dir / "duplicates.csv")
        outliers = self.run_dir / "outliers.csv"
        self.farthest_first = [(r["file"], float(r["ratio_to_median"]))
                               for r in (read_csv_rows(outliers) if outliers.exists() else [])
                               if r["file"] in self.cluster_of]

    def _read_groups(self, path: Path) -> list[dict]:
        """Stage 04's near-duplicate groups: [{group, kind, files}] (run images only)."""
        groups: dict[int, dict] = {}
        for row in read_csv_rows(path) if path.exists() else []:
            if row["file"] in self.cluster_of:
                group = groups.setdefault(int(row["group"]), {"group": int(row["group"]),
                                                              "kind": row["kind"], "files": []})
                group["files"].append(row["file"])
        return [g for g in groups.values() if len(g["files"]) > 1]

    # ------------------------------------------------------------------ reading
    def clusters(self) -> list[dict]:
        """Every cluster (outliers last): id, name, size, its true labels by count, SOM units."""
        members: dict[int, list[str]] = {}
        for file in self.files:
            members.setdefault(self.cluster_of[file], []).append(file)
        order = sorted(members, key=lambda c: (c == OUTLIERS, c))
        return [{"id": c, "name": self.names.get(c, ""), "size": len(members[c]),
                 "labels": Counter(self.true_label[f] for f in members[c]
                                   if f in self.true_label).most_common(),
                 "som_nodes": sorted({self.som_node[f] for f in members[c]})}
                for c in order]

    def members(self, cluster: int, offset: int = 0, limit: int = 100) -> dict:
        """One page of a cluster's images: {total, files: [{file, label, som_node}]}."""
        files = [f for f in self.files if self.cluster_of[f] == cluster]
        page = files[max(offset, 0):max(offset, 0) + max(min(limit, 1000), 0)]
        return {"total": len(files), "files": [self._describe(f) for f in page]}

    def _describe(self, file: str) -> dict:
        return {"file": file, "label": self.true_label.get(file, ""),
                "som_node": self.som_node[file], "cluster": self.cluster_of[file]}

    def duplicates(self) -> list[dict]:
        """The near-duplicate groups with each member's label, SOM unit and current cluster."""
        return [{**g, "files": [self._describe(f) for f in g["files"]]} for g in self.groups]

    def farthest(self, offset: int = 0, limit: int = 100) -> dict:
        """One page of the images farthest from their cluster's mean (stage 04's order)."""
        page = self.farthest_first[max(offset, 0):max(offset, 0) + max(min(limit, 1000), 0)]
        return {"total": len(self.farthest_first),
                "files": [{**self._describe(f), "ratio": ratio} for f, ratio in page]}

    def __contains__(self, file: object) -> bool:
        return file in self.cluster_of

    # ------------------------------------------------------------------ changes
    def _checkpoint(self) -> None:
        self._history.append((dict(self.cluster_of), dict(self.names)))
        del self._history[:-UNDO_DEPTH]

    def _known_files(self, files: Iterable[str]) -> list[str]:
        files = list(files)
        unknown = [f for f in files if f not in self.cluster_of]
        if unknown or not files:
            raise SomclustError(f"not images of this run: {unknown[:3]}" if unknown
                                else "no images given")
        return files

    def _existing(self, cluster: int) -> int:
        if cluster not in set(self.cluster_of.values()):
            raise SomclustError(f"no cluster {cluster} in this run")
        return cluster

    def new_cluster_id(self) -> int:
        """The id a new cluster gets: one past the largest."""
        return max(self.cluster_of.values()) + 1

    def move(self, files: Iterable[str], target: int | None) -> int:
        """Move ``files`` to cluster ``target`` (None: a new cluster; -1: outliers); returns it."""
        files = self._known_files(files)
        if target is None:
            target = self.new_cluster_id()
        elif target != OUTLIERS:
            self._existing(target)
        self._checkpoint()
        for file in files:
            self.cluster_of[file] = target
        return target

    def keep_one(self, file: str) -> int:
        """Put every image of ``file``'s near-duplicate group into ``file``'s cluster."""
        group = next((g["files"] for g in self.groups if file in g["files"]), None)
        if group is None:
            raise SomclustError(f"{file} is in no near-duplicate group")
        return self.move(group, self.cluster_of[file])

    def merge(self, source: int, target: int) -> int:
        """Move every image of cluster ``source`` into ``target``; returns ``target``."""
        self._existing(source)
        self._existing(target)
        if source == target:
            raise SomclustError("a cluster cannot be merged into itself")
        self._checkpoint()
        for file, cluster in self.cluster_of.items():
            if cluster == source:
                self.cluster_of[file] = target
        if not self.names.get(target) and self.names.get(source):
            self.names[target] = self.names[source]
        self.names.pop(source, None)
        return target

    def rename(self, cluster: int, name: str) -> None:
        """Name a cluster (kept in ``clusters_reviewed.csv``); an empty name removes it."""
        self._existing(cluster)
        name = " ".join(str(name).split())[:80]
        self._checkpoint()
        if name:
            self.names[cluster] = name
        else:
            self.names.pop(cluster, None)

    def undo(self) -> bool:
        """Take back the last change; False when there is none."""
        if not self._history:
            return False
        self.cluster_of, self.names = self._history.pop()
        return True

    # ------------------------------------------------------------------ saving
    def save(self) -> dict:
        """Write ``clusters_reviewed.csv`` and ``labels_pred_reviewed.txt`` atomically."""
        present = set(self.cluster_of.values())
        csv_path = atomic_write_csv(
            self.run_dir / REVIEWED_CSV, ("file", "cluster", "name"),
            [(f, self.cluster_of[f], self.names.get(self.cluster_of[f], "")) for f in self.files])
        order = (self.work_dir / "img_paths.txt").read_text(encoding="utf-8").splitlines()
        lines_path = atomic_write_text(
            self.run_dir / REVIEWED_LINES,
            "".join(f"{self.cluster_of.get(f, OUTLIERS)}\n" for f in order))
        return {"clusters_csv": str(csv_path), "labels_pred": str(lines_path),
                "clusters": len(present - {OUTLIERS}),
                "outliers": sum(c == OUTLIERS for c in self.cluster_of.values())}


def reviewed_labels(run_dir: str | Path) -> dict[str, str]:
    """{file: cluster name} of the images in clusters a review named (outliers excluded): what
    stage 02 may train on with ``FT_FROM_REVIEW``."""
    path = Path(run_dir) / REVIEWED_CSV
    if not path.exists():
        raise SomclustError(f"{path} not found: review the clusters first (08_review.py, "
                            "somclust review) and save, or set FT_FROM_REVIEW=false")
    return {r["file"]: r["name"] for r in read_csv_rows(path)
            if r["name"] and int(r["cluster"]) != OUTLIERS}


"""Local sources: a .safetensors or .gguf file, or a folder (single file, sharded, diffusers pipeline, GGUFs)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from vramcalc.errors import SourceError
from vramcalc.inventory import FileInfo, Inventory, TensorInfo
from vramcalc.readers import QuantSet
from vramcalc.readers.assemble import assemble
from vramcalc.readers.paths import require_regular
from vramcalc.readers.safetensors_header import read_safetensors_file

if TYPE_CHECKING:
    from vramcalc.registry import Registry

def read_local_path(path: Path, *, quant_set: bool = True, registry: Registry | None = None) -> Inventory | QuantSet:
    if path.is_dir():
        return _read_folder(path, quant_set, registry)
    require_regular(path)
    if path.suffix == ".safetensors":
        tensors, metadata, info = read_safetensors_file(path)
        config = _load_json(path.parent / "config.json")
        return assemble(str(path), "safetensors", tensors, [info], config, metadata)
    if path.suffix == ".gguf":
        return _read_gguf([path], str(path), registry)
    if path.suffix in (".bin", ".pt", ".pth", ".ckpt"):
        raise SourceError(f"{path} is a pickle checkpoint, which has no header to read safely",
                          "give the .safetensors version, or its config.json")
    raise SourceError(f"cannot tell what {path} is", "give a .safetensors, .gguf, config.json or a model folder")


def _load_json(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    from vramcalc.readers.config_json import read_json_object

    return read_json_object(path)


class _Folder:
    """A local folder as a FileSource: its files by name, JSON read within MAX_JSON_BYTES."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def ls(self, folder: str) -> list[str]:
        where = self.root / folder if folder else self.root
        if not where.is_dir():
            return []
        prefix = f"{folder}/" if folder else ""
        return sorted(prefix + p.name for p in where.iterdir() if not p.is_dir())

    def json(self, name: str) -> dict[str, Any] | None:
        return _load_json(self.root / name)


def _read_folder(folder: Path, quant_set: bool = True, registry: Registry | None = None) -> Inventory | QuantSet:
    from vramcalc.readers.weight_files import Blame, select_weights

    source = _Folder(folder)
    chosen = select_weights(source, Blame(label=lambda name: str(folder / name), inside="its folder"))
    if chosen.components:
        return _read_pipeline(folder, source, chosen.files, chosen.components, chosen.notes)
    tensors, files, metadata = _read_weights(folder, chosen.files)
    if not files:
        ggufs = sorted(p.name for p in folder.glob("*.gguf"))
        if ggufs:
            from vramcalc.readers.gguf import model_ggufs, quant_tags

            groups = model_ggufs(ggufs) or {ggufs[0]: ggufs[:1]}  # only an mmproj: read that
            if len(groups) > 1 and quant_set:  # every quant, for a table of them
                return QuantSet(str(folder), tuple(
                    (tag, _read_gguf([folder / groups[g][0]], str(folder / groups[g][0]), registry))
                    for g, tag in quant_tags(groups).items()))
            if len(groups) > 1:
                raise SourceError(f"{folder} holds several GGUF files: {', '.join(groups)}",
                                  "give the path of the one you mean (`vramcalc estimate` on the folder shows "
                                  "every quant)")
            return _read_gguf([folder / next(iter(groups.values()))[0]], str(folder), registry)
        pickles = [p.name for p in folder.iterdir() if p.suffix in (".bin", ".pt", ".pth")]
        what = "no .safetensors, .gguf or config.json"
        todo = ("pickle checkpoints (" + ", ".join(pickles[:3]) + ") are not read: give safetensors or config.json"
                if pickles else "give a model folder, a weights file or a config.json")
        raise SourceError(f"{folder}: {what}", todo)
    return assemble(str(folder), "folder", tensors, files, _load_json(folder / "config.json"), metadata, chosen.notes)


def _read_weights(folder: Path, names: list[str]) -> tuple[list[TensorInfo], list[FileInfo], dict[str, str]]:
    """The chosen files' headers; a shard an index names but the folder lacks is an error (not a smaller model)."""
    missing = [n for n in names if not (folder / n).exists()]
    if missing:
        where = folder / missing[0].rsplit("/", 1)[0] if "/" in missing[0] else folder
        raise SourceError(f"{where}: shard {missing[0].rsplit('/', 1)[-1]} named in its index is missing"
                          + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
                          "download every shard, or point at config.json to count from the architecture")
    tensors: list[TensorInfo] = []
    files: list[FileInfo] = []
    metadata: dict[str, str] = {}
    for name in names:
        component = name.split("/", 1)[0] if "/" in name else ""
        t, meta, info = read_safetensors_file(folder / name, component=component)
        tensors += t
        files.append(info)
        metadata.update(meta)
    return tensors, files, metadata


def _read_pipeline(folder: Path, source: _Folder, names: list[str], components: list[str],
                   notes: list[str]) -> Inventory:
    """Every component's weights, or its config where it has none (readers/assemble.py)."""
    from vramcalc.readers.assemble import assemble_pipeline

    weights: dict[str, tuple[list[TensorInfo], list[FileInfo]]] = {}
    for name in components:
        own = [n for n in names if n.startswith(name + "/")]
        if own:
            t, f, _ = _read_weights(folder, own)
            weights[name] = (t, f)
    configs = {name: _load_json(folder / name / "config.json") for name in components
               if (folder / name / "config.json").is_file()}
    inv = assemble_pipeline(str(folder), "folder", components, weights, configs, source.json("model_index.json") or {},
                            notes)
    if inv is None:
        raise SourceError(f"{folder}: a diffusers pipeline without .safetensors weights in its components",
                          "download the component folders (transformer/, text_encoder/, vae/ …)")
    return inv


def _read_gguf(paths: list[Path], source: str, registry: Registry | None = None) -> Inventory:
    from vramcalc.readers.gguf import read_gguf_file

    g = read_gguf_file(paths[0], registry)
    files = [FileInfo(path=p, size=size, header_bytes=header, tensors=0) for p, size, header in g.files]
    return Inventory(source=source, kind="gguf", tensors=g.tensors, files=files, metadata=g.metadata,
                     config=None)

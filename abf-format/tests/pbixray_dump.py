"""Prints one JSON line per file argument with what pbixray (an independent reader) sees in it.

Used by the `pbixray` module of the integration tests (`tests/it/pbixray.rs`) as an oracle:
  {"path", "error", "tables", "catalog_tables", "catalog_expressions", "catalog_roles", "catalog_version", "parameters",
   "files": [[stored Size, SizeFromLog], ...], "measures", "relationships", "power_query", "columns"}
`catalog_tables` runs the crate's own catalog query on the metadata.sqlitedb bytes pbixray extracts (null when the
model has none), and `catalog_expressions` / `catalog_roles` / `catalog_version` the names in `Expression`, (name, ModelPermission) in
`Role` and `Model.DefaultPowerBIDataSourceVersion` (null without the column); `tables` is pbixray's own `.tables` (built from column storage, so it can miss measure-only tables; null when
pbixray cannot build it, as for models without column data); `parameters` is pbixray's `.m_parameters` names (shared
Power Query expressions marked as parameters; null when pbixray cannot read them).
"""
import json
import sqlite3
import sys
import tempfile

from pbixray import PBIXRay
import pbixray.utils as pbixray_utils

QUERY = "SELECT Name FROM [Table] WHERE (SystemFlags & 1) = 0 ORDER BY ID"


def catalog(data_model):
    """(tables, expressions, roles, version) from the catalog, or all None when the model has none."""
    try:
        raw = pbixray_utils.get_data_slice(data_model, "metadata.sqlitedb")
    except Exception:
        return None, None, None, None
    with tempfile.NamedTemporaryFile(suffix=".sqlitedb") as f:
        f.write(bytes(raw))
        f.flush()
        con = sqlite3.connect(f.name)
        try:
            tables = [row[0] for row in con.execute(QUERY)]
            expressions = [row[0] for row in con.execute("SELECT Name FROM Expression ORDER BY rowid")]
            roles = [[row[0], row[1]] for row in con.execute("SELECT Name, ModelPermission FROM Role ORDER BY rowid")]
            columns = [row[1] for row in con.execute("PRAGMA table_info(Model)")]
            version = None
            if "DefaultPowerBIDataSourceVersion" in columns:
                version = con.execute("SELECT DefaultPowerBIDataSourceVersion FROM Model ORDER BY rowid LIMIT 1").fetchone()[0]
            return tables, expressions, roles, version
        finally:
            con.close()


def dump(path):
    out = {"path": path, "error": None, "tables": None, "catalog_tables": None, "catalog_expressions": None,
           "catalog_roles": None, "catalog_version": None, "parameters": None, "files": None,
           "measures": None, "relationships": None, "power_query": None, "columns": None}
    try:
        model = PBIXRay(path)
        dm = model._data_model
        out["files"] = [[int(e["Size"]), int(e["SizeFromLog"])] for e in dm.file_log]
        (out["catalog_tables"], out["catalog_expressions"], out["catalog_roles"],
         out["catalog_version"]) = catalog(dm)
    except Exception as e:  # the test decides whether an error was expected
        out["error"] = f"{type(e).__name__}: {e}"
        return out
    try:
        out["tables"] = [str(t) for t in model.tables]
    except Exception:  # left null: the test compares catalog_tables then
        out["tables"] = None
    try:
        params = model.m_parameters
        out["parameters"] = [str(n) for n in params["ParameterName"]] if len(params) else []
    except Exception:  # left null: nothing to compare
        out["parameters"] = None
    out.update(definition(model))
    return out


def plain(v):
    """A JSON value of a dataframe cell: None for missing, ints as ints, anything else as text."""
    if v is None or v != v:
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, (bool, int)):
        return int(v)
    return str(v)


def frame(model, name, columns):
    """Rows of one of pbixray's frames as lists, or None when pbixray cannot build it."""
    try:
        df = getattr(model, name)
        if not len(df):
            return []
        return [[plain(row[c]) for c in columns] for row in df.to_dict("records")]
    except Exception:  # left null: nothing to compare
        return None


def definition(model):
    """What pbixray reads of the model's definition: measures, relationships, partitions' M, column names."""
    return {
        "measures": frame(model, "dax_measures", ["TableName", "Name", "Expression"]),
        "relationships": frame(model, "relationships",
                               ["FromTableName", "FromColumnName", "ToTableName", "ToColumnName", "IsActive"]),
        "power_query": frame(model, "power_query", ["TableName", "Expression"]),
        "columns": frame(model, "schema", ["TableName", "ColumnName"]),
    }


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(json.dumps(dump(arg)), flush=True)

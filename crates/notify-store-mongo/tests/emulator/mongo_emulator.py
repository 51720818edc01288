#!/usr/bin/env python3
"""A MongoDB wire-protocol emulator for the notify-store-mongo tests.

It is not MongoDB. `mockupdb` (MongoDB Inc.'s wire-protocol test server) speaks OP_MSG and
hands every command to `handle`, which runs it against `mongomock` (an in-memory collection
engine) and answers in the reply format of a MongoDB 5.0 standalone server: the shape the
`mongodb` Rust driver expects, including `writeErrors` with code 11000 for duplicate keys and
error code 20 for transaction commands, exactly as a real standalone answers them.

Where mongomock departs from the documented server behaviour on something the backend relies
on, it is patched here to match the server:
- `$min`/`$max` compare with BSON comparison order (mongomock uses Python's `min`/`max`,
  which cannot compare documents);
- `$inc` keeps 64-bit integers 64-bit (mongomock turns `Int64 + Int64` into a plain `int`,
  which pymongo encodes as a 32-bit integer when it fits);
- `$addToSet` with `$each` adds each distinct value once.

What it does not do: transactions, replica sets, sessions (ignored), write concerns (ignored),
authentication, real query planning and index use (mongomock scans), collations.

Run: `python3 mongo_emulator.py [--port N]`. It prints `READY <port>` on stdout once it
accepts connections, then serves until stdin closes or it receives SIGTERM/SIGINT. Needs the
PyPI packages `mockupdb`, `mongomock` and `pymongo`.
"""

import argparse
import collections
import datetime
import itertools
import signal
import sys
import threading
import traceback

import mockupdb
import mongomock
import mongomock.collection as mm_collection
import mongomock.filtering as mm_filtering
import mongomock.helpers as mm_helpers
import mongomock.store as mm_store
from bson.int64 import Int64
from bson.objectid import ObjectId
from pymongo.errors import DuplicateKeyError, OperationFailure

MAX_WIRE_VERSION = 13  # MongoDB 5.0
DEFAULT_FIRST_BATCH = 101


def _bson_max(doc, field_name, value):
    if isinstance(doc, dict):
        if field_name not in doc or mm_filtering.bson_compare(
            lambda a, b: a > b, value, doc[field_name]
        ):
            doc[field_name] = value


def _bson_min(doc, field_name, value):
    if isinstance(doc, dict):
        if field_name not in doc or mm_filtering.bson_compare(
            lambda a, b: a < b, value, doc[field_name]
        ):
            doc[field_name] = value


def _inc_keeping_width(doc, field_name, value):
    if isinstance(doc, dict):
        old = doc.get(field_name, 0)
        total = old + value
        if isinstance(old, Int64) or isinstance(value, Int64):
            total = Int64(total)
        doc[field_name] = total
    else:
        _original_inc(doc, field_name, value)


_original_inc = mm_collection._updaters["$inc"]
mm_collection._updaters["$max"] = _bson_max
mm_collection._updaters["$min"] = _bson_min
mm_collection._updaters["$inc"] = _inc_keeping_width

# mongomock finds documents by testing the whole filter against every document of the
# collection (it has no index structures), which costs milliseconds per query at a few
# thousand documents. The answers stay mongomock's; only the candidates tested are narrowed
# first: by `_id` when the filter names one, else through hash indexes of the fields the
# filter compares for equality with plain values, built on first use and kept up to date on
# every insert and update. An index may keep stale entries (values a document no longer
# has): candidates are always tested against the whole filter, so that costs only time.
_PLAIN = (str, int, float, datetime.datetime, ObjectId)
_MISSING = object()


def _plain(value):
    return isinstance(value, _PLAIN) and not isinstance(value, bool)


def _index_entries(doc, field):
    """The plain values under which `doc` is found by equality on `field`, and whether it
    must also be a candidate for every value (missing field, or a value not indexed)."""
    value = doc.get(field, _MISSING)
    if isinstance(value, (list, tuple)):
        # Equality also matches array elements.
        return [v for v in value if _plain(v)], True
    if _plain(value):
        return [value], False
    return [], True


def _doc_key(doc):
    key = doc.get("_id")
    return mm_helpers.hashdict(key) if isinstance(key, dict) else key


def _indexes(store):
    if not hasattr(store, "_emulator_indexes"):
        store._emulator_indexes = {}
        store._emulator_order = {}
        store._emulator_next = itertools.count()
        for key in store._documents:
            store._emulator_order[key] = next(store._emulator_next)
    return store._emulator_indexes


def _index_document(store, key, doc):
    indexes = _indexes(store)
    if key not in store._emulator_order:
        store._emulator_order[key] = next(store._emulator_next)
    for field, (buckets, always) in indexes.items():
        values, anything = _index_entries(doc, field)
        for v in values:
            buckets.setdefault(v, set()).add(key)
        if anything:
            always.add(key)


def _field_index(store, field):
    indexes = _indexes(store)
    if field not in indexes:
        buckets, always = {}, set()
        for key, doc in store._documents.items():
            values, anything = _index_entries(doc, field)
            for v in values:
                buckets.setdefault(v, set()).add(key)
            if anything:
                always.add(key)
        indexes[field] = (buckets, always)
    return indexes[field]


def _candidates(store, filter):
    documents = store._documents
    if not isinstance(filter, dict):
        return list(documents.values())
    wanted_id = filter.get("_id")
    if _plain(wanted_id):
        doc = documents.get(wanted_id)
        return [] if doc is None else [doc]
    best = None
    for field, value in filter.items():
        if field.startswith("$") or "." in field or not _plain(value):
            continue
        buckets, always = _field_index(store, field)
        keys = buckets.get(value, set()) | always
        if best is None or len(keys) < len(best):
            best = keys
    if best is None:
        return list(documents.values())
    order = store._emulator_order
    return [documents[k] for k in sorted(best, key=lambda k: order.get(k, -1)) if k in documents]


def _iter_documents_narrowed(self, filter):
    if self._store.is_empty:
        mm_filtering.filter_applies(filter, {})
    with self._store._rwlock.reader():
        candidates = _candidates(self._store, filter)
    return (d for d in candidates if mm_filtering.filter_applies(filter, d))


_original_setitem = mm_store.CollectionStore.__setitem__
_original_drop = mm_store.CollectionStore.drop
_original_apply_update = mm_collection.Collection._apply_update_document
_original_apply_pipeline = mm_collection.Collection._apply_update_pipeline


def _setitem_indexed(self, key, doc):
    _original_setitem(self, key, doc)
    _index_document(self, key, doc)


def _drop_indexed(self):
    _original_drop(self)
    for attr in ("_emulator_indexes", "_emulator_order", "_emulator_next"):
        if hasattr(self, attr):
            delattr(self, attr)


def _apply_update_indexed(self, existing_document, *args, **kwargs):
    result = _original_apply_update(self, existing_document, *args, **kwargs)
    _index_document(self._store, _doc_key(existing_document), existing_document)
    return result


def _apply_pipeline_indexed(self, existing_document, *args, **kwargs):
    result = _original_apply_pipeline(self, existing_document, *args, **kwargs)
    _index_document(self._store, _doc_key(existing_document), existing_document)
    return result


mm_store.CollectionStore.__setitem__ = _setitem_indexed
mm_store.CollectionStore.drop = _drop_indexed
mm_collection.Collection._apply_update_document = _apply_update_indexed
mm_collection.Collection._apply_update_pipeline = _apply_pipeline_indexed
mm_collection.Collection._iter_documents = _iter_documents_narrowed


def _dedup_each(update):
    """Makes `$addToSet: {f: {$each: [...]}}` add each distinct value once, as the server does."""
    add = update.get("$addToSet") if isinstance(update, dict) else None
    if not isinstance(add, dict):
        return update
    for field, value in add.items():
        if isinstance(value, dict) and "$each" in value:
            unique = []
            for item in value["$each"]:
                if item not in unique:
                    unique.append(item)
            value["$each"] = unique
    return update


class CommandError(Exception):
    def __init__(self, code, code_name, message):
        super().__init__(message)
        self.code = code
        self.code_name = code_name
        self.message = message


class Emulator:
    def __init__(self):
        self.client = mongomock.MongoClient()
        self.cursors = {}
        self.cursor_ids = itertools.count(1)
        self.connection_ids = itertools.count(1)
        self.lock = threading.Lock()

    # --- plumbing ------------------------------------------------------------------------

    def handle(self, request):
        doc = request.doc
        name = request.command_name or ""
        try:
            with self.lock:
                reply = self.dispatch(name, request.namespace, doc)
        except CommandError as e:
            reply = {"ok": 0, "errmsg": e.message, "code": e.code, "codeName": e.code_name}
        except DuplicateKeyError as e:
            reply = {"ok": 0, "errmsg": str(e), "code": 11000, "codeName": "DuplicateKey"}
        except OperationFailure as e:
            reply = {"ok": 0, "errmsg": str(e), "code": e.code or 2, "codeName": "BadValue"}
        except NotImplementedError as e:
            reply = {"ok": 0, "errmsg": "emulator: %s" % e, "code": 115, "codeName": "CommandNotSupported"}
        except Exception as e:  # noqa: BLE001 - every failure must reach the client as a reply
            traceback.print_exc(file=sys.stderr)
            reply = {"ok": 0, "errmsg": "emulator: %r" % e, "code": 1, "codeName": "InternalError"}
        request.replies(reply)
        return True

    def dispatch(self, name, db, doc):
        if "startTransaction" in doc or "txnNumber" in doc or "autocommit" in doc:
            raise CommandError(
                20,
                "IllegalOperation",
                "Transaction numbers are only allowed on a replica set member or mongos",
            )
        handler = getattr(self, "cmd_" + name.lower(), None)
        if handler is None:
            raise CommandError(59, "CommandNotFound", "no such command: '%s'" % name)
        return handler(db, doc)

    def coll(self, db, doc, key):
        return self.client[db][doc[key]]

    def cursor_reply(self, db, coll_name, docs, batch_size, single_batch=False):
        ns = "%s.%s" % (db, coll_name)
        first = DEFAULT_FIRST_BATCH if batch_size is None else max(int(batch_size), 0)
        batch, rest = docs[:first], docs[first:]
        cursor_id = 0
        if rest and not single_batch:
            cursor_id = next(self.cursor_ids)
            self.cursors[cursor_id] = (ns, rest)
        return {"cursor": {"firstBatch": batch, "id": Int64(cursor_id), "ns": ns}, "ok": 1}

    # --- handshake and administration ------------------------------------------------------

    def hello_reply(self, legacy):
        reply = {
            "helloOk": True,
            "maxBsonObjectSize": 16 * 1024 * 1024,
            "maxMessageSizeBytes": 48000000,
            "maxWriteBatchSize": 100000,
            "localTime": datetime.datetime.now(datetime.timezone.utc),
            "logicalSessionTimeoutMinutes": 30,
            "connectionId": next(self.connection_ids),
            "minWireVersion": 0,
            "maxWireVersion": MAX_WIRE_VERSION,
            "readOnly": False,
            "ok": 1,
        }
        reply["ismaster" if legacy else "isWritablePrimary"] = True
        return reply

    def cmd_hello(self, db, doc):
        return self.hello_reply(legacy=False)

    def cmd_ismaster(self, db, doc):
        return self.hello_reply(legacy=True)

    def cmd_ping(self, db, doc):
        return {"ok": 1}

    def cmd_buildinfo(self, db, doc):
        return {"version": "5.0.0", "versionArray": [5, 0, 0, 0], "maxBsonObjectSize": 16 * 1024 * 1024, "ok": 1}

    def cmd_endsessions(self, db, doc):
        return {"ok": 1}

    def cmd_killsessions(self, db, doc):
        return {"ok": 1}

    def cmd_dropdatabase(self, db, doc):
        self.client.drop_database(db)
        return {"dropped": db, "ok": 1}

    def cmd_listdatabases(self, db, doc):
        names = self.client.list_database_names()
        return {"databases": [{"name": n, "sizeOnDisk": 0, "empty": False} for n in names], "ok": 1}

    def cmd_listcollections(self, db, doc):
        names = sorted(self.client[db].list_collection_names())
        docs = [{"name": n, "type": "collection", "options": {}, "info": {"readOnly": False}} for n in names]
        filt = doc.get("filter") or {}
        if "name" in filt and isinstance(filt["name"], str):
            docs = [d for d in docs if d["name"] == filt["name"]]
        return self.cursor_reply(db, "$cmd.listCollections", docs, (doc.get("cursor") or {}).get("batchSize"))

    def cmd_create(self, db, doc):
        if doc["create"] in self.client[db].list_collection_names():
            raise CommandError(48, "NamespaceExists", "Collection %s.%s already exists." % (db, doc["create"]))
        self.client[db].create_collection(doc["create"])
        return {"ok": 1}

    def cmd_drop(self, db, doc):
        if doc["drop"] not in self.client[db].list_collection_names():
            raise CommandError(26, "NamespaceNotFound", "ns not found")
        self.client[db].drop_collection(doc["drop"])
        return {"ns": "%s.%s" % (db, doc["drop"]), "nIndexesWas": 1, "ok": 1}

    # --- indexes ----------------------------------------------------------------------------

    def cmd_createindexes(self, db, doc):
        coll = self.coll(db, doc, "createIndexes")
        existed = doc["createIndexes"] in self.client[db].list_collection_names()
        before = len(coll.index_information()) if existed else 1
        for spec in doc["indexes"]:
            keys = list(spec["key"].items())
            options = {k: v for k, v in spec.items() if k not in ("key", "v")}
            current = coll.index_information().get(options.get("name"))
            if current is not None:
                if list(current["key"]) != keys or bool(current.get("unique")) != bool(options.get("unique")):
                    raise CommandError(
                        86,
                        "IndexKeySpecsConflict",
                        "An existing index has the same name as the requested index: %s" % options.get("name"),
                    )
                continue
            coll.create_index(keys, **options)
        after = len(coll.index_information())
        return {
            "createdCollectionAutomatically": not existed,
            "numIndexesBefore": before,
            "numIndexesAfter": after,
            "ok": 1,
        }

    def cmd_dropindexes(self, db, doc):
        # One index by name, as MongoDB does; an unknown name is IndexNotFound (27).
        name = doc["dropIndexes"]
        if name not in self.client[db].list_collection_names():
            raise CommandError(26, "NamespaceNotFound", "ns not found")
        coll = self.coll(db, doc, "dropIndexes")
        before = len(coll.index_information())
        index = doc["index"]
        if not isinstance(index, str) or index not in coll.index_information():
            raise CommandError(27, "IndexNotFound", "index not found with name [%s]" % index)
        coll.drop_index(index)
        return {"nIndexesWas": before, "ok": 1}

    def cmd_listindexes(self, db, doc):
        coll = self.coll(db, doc, "listIndexes")
        docs = []
        for name, info in coll.index_information().items():
            entry = {"v": 2, "key": collections.OrderedDict(info["key"]), "name": name}
            for option in ("unique", "sparse", "partialFilterExpression"):
                if option in info:
                    entry[option] = info[option]
            docs.append(entry)
        return self.cursor_reply(db, doc["listIndexes"], docs, (doc.get("cursor") or {}).get("batchSize"))

    # --- writes -------------------------------------------------------------------------------

    def cmd_insert(self, db, doc):
        coll = self.coll(db, doc, "insert")
        ordered = doc.get("ordered", True)
        n = 0
        errors = []
        for i, d in enumerate(doc.get("documents", [])):
            try:
                coll.insert_one(d)
                n += 1
            except DuplicateKeyError as e:
                errors.append({"index": i, "code": 11000, "errmsg": "E11000 duplicate key error: %s" % e})
                if ordered:
                    break
        reply = {"n": n, "ok": 1}
        if errors:
            reply["writeErrors"] = errors
        return reply

    def cmd_update(self, db, doc):
        coll = self.coll(db, doc, "update")
        ordered = doc.get("ordered", True)
        n = 0
        modified = 0
        upserted = []
        errors = []
        for i, u in enumerate(doc.get("updates", [])):
            q = u.get("q", {})
            update = _dedup_each(u.get("u", {}))
            upsert = bool(u.get("upsert", False))
            try:
                if isinstance(update, dict) and update and not next(iter(update)).startswith("$"):
                    result = coll.replace_one(q, update, upsert=upsert)
                elif u.get("multi", False):
                    result = coll.update_many(q, update, upsert=upsert)
                else:
                    result = coll.update_one(q, update, upsert=upsert)
            except DuplicateKeyError as e:
                errors.append({"index": i, "code": 11000, "errmsg": "E11000 duplicate key error: %s" % e})
                if ordered:
                    break
                continue
            except (OperationFailure, mongomock.WriteError) as e:
                code = getattr(e, "code", None) or 2
                errors.append({"index": i, "code": code, "errmsg": str(e)})
                if ordered:
                    break
                continue
            if result.upserted_id is not None:
                n += 1
                upserted.append({"index": i, "_id": result.upserted_id})
            else:
                n += result.matched_count
                modified += result.modified_count
        reply = {"n": n, "nModified": modified, "ok": 1}
        if upserted:
            reply["upserted"] = upserted
        if errors:
            reply["writeErrors"] = errors
        return reply

    def cmd_delete(self, db, doc):
        coll = self.coll(db, doc, "delete")
        n = 0
        for d in doc.get("deletes", []):
            if d.get("limit", 0) == 1:
                n += coll.delete_one(d.get("q", {})).deleted_count
            else:
                n += coll.delete_many(d.get("q", {})).deleted_count
        return {"n": n, "ok": 1}

    def cmd_findandmodify(self, db, doc):
        coll = self.coll(db, doc, "findAndModify")
        query = doc.get("query") or {}
        sort = list((doc.get("sort") or {}).items()) or None
        projection = doc.get("fields")
        if doc.get("remove"):
            value = coll.find_one_and_delete(query, projection=projection, sort=sort)
            return {"lastErrorObject": {"n": 1 if value else 0}, "value": value, "ok": 1}
        before = coll.find_one(query, sort=sort) if sort else coll.find_one(query)
        update = _dedup_each(doc.get("update") or {})
        return_new = bool(doc.get("new"))
        upsert = bool(doc.get("upsert"))
        if update and not next(iter(update)).startswith("$"):
            value = coll.find_one_and_replace(
                query, update, projection=projection, sort=sort, upsert=upsert,
                return_document=mongomock.ReturnDocument.AFTER if return_new else mongomock.ReturnDocument.BEFORE,
            )
        else:
            value = coll.find_one_and_update(
                query, update, projection=projection, sort=sort, upsert=upsert,
                return_document=mongomock.ReturnDocument.AFTER if return_new else mongomock.ReturnDocument.BEFORE,
            )
        last = {"n": 1 if (before is not None or upsert) else 0, "updatedExisting": before is not None}
        if before is None and upsert and value is not None and "_id" in value:
            last["upserted"] = value["_id"]
        return {"lastErrorObject": last, "value": value, "ok": 1}

    # --- reads --------------------------------------------------------------------------------

    def cmd_find(self, db, doc):
        coll = self.coll(db, doc, "find")
        cursor = coll.find(doc.get("filter") or {}, doc.get("projection") or None)
        sort = doc.get("sort")
        if sort:
            cursor = cursor.sort(list(sort.items()))
        if doc.get("skip"):
            cursor = cursor.skip(int(doc["skip"]))
        limit = int(doc.get("limit") or 0)
        single = bool(doc.get("singleBatch"))
        if limit < 0:
            limit, single = -limit, True
        if limit:
            cursor = cursor.limit(limit)
        docs = list(cursor)
        return self.cursor_reply(db, doc["find"], docs, doc.get("batchSize"), single)

    def cmd_getmore(self, db, doc):
        cursor_id = int(doc["getMore"])
        if cursor_id not in self.cursors:
            raise CommandError(43, "CursorNotFound", "cursor id %d not found" % cursor_id)
        ns, rest = self.cursors.pop(cursor_id)
        size = doc.get("batchSize")
        size = len(rest) if not size else int(size)
        batch, rest = rest[:size], rest[size:]
        next_id = 0
        if rest:
            next_id = cursor_id
            self.cursors[cursor_id] = (ns, rest)
        return {"cursor": {"nextBatch": batch, "id": Int64(next_id), "ns": ns}, "ok": 1}

    def cmd_killcursors(self, db, doc):
        killed = []
        for cursor_id in doc.get("cursors", []):
            if self.cursors.pop(int(cursor_id), None) is not None:
                killed.append(cursor_id)
        return {"cursorsKilled": killed, "cursorsNotFound": [], "cursorsAlive": [], "cursorsUnknown": [], "ok": 1}

    def cmd_aggregate(self, db, doc):
        coll = self.coll(db, doc, "aggregate")
        docs = list(coll.aggregate(doc.get("pipeline") or []))
        return self.cursor_reply(db, doc["aggregate"], docs, (doc.get("cursor") or {}).get("batchSize"))

    def cmd_count(self, db, doc):
        coll = self.coll(db, doc, "count")
        query = doc.get("query") or {}
        kwargs = {}
        if doc.get("limit"):
            kwargs["limit"] = int(doc["limit"])
        if doc.get("skip"):
            kwargs["skip"] = int(doc["skip"])
        return {"n": coll.count_documents(query, **kwargs), "ok": 1}

    def cmd_distinct(self, db, doc):
        coll = self.coll(db, doc, "distinct")
        return {"values": coll.distinct(doc["key"], doc.get("query") or {}), "ok": 1}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=None, help="port to listen on (default: a free one)")
    parser.add_argument("--verbose", action="store_true", help="print every request and reply")
    args = parser.parse_args()

    emulator = Emulator()
    server = mockupdb.MockupDB(port=args.port, verbose=args.verbose, request_timeout=int(1e6))
    server.autoresponds(emulator.handle)
    port = server.run()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def watch_stdin():
        # The parent closes our stdin (or dies) when it is done: stop with it.
        try:
            sys.stdin.read()
        finally:
            stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    print("READY %d" % port, flush=True)
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()

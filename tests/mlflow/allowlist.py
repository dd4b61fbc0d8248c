"""Every difference between trainyard and the real MLflow server that the
differential test (test_differential.py) finds and that remains on purpose,
with its reason. docs/mlflow.md mirrors this list (a test checks it), and
the test fails on an entry that no longer matches any difference.

Each entry names the steps it covers (an fnmatch pattern over step names),
the aspects that may differ ("status", "error_code", "message", "body",
"bytes", "header:<name>", "result"), and why.
"""

from diff import Allowed

ANY_ERROR = ("status", "error_code", "message", "body")

ALLOWED = [
    Allowed("search-grammar-words", "*search: bad filter", ("message",),
            "Search filters are parsed by trainyard's own parser of MLflow's grammar: the same filters are refused "
            "with the same status and error code, but the message names the character at fault instead of "
            "repeating MLflow's sqlparse wording."),
    Allowed("search-key-words", "*search: unknown*", ("message",),
            "An identifier a search does not know is refused with MLflow's status and code; the list of valid "
            "keys is worded (and ordered) differently, as MLflow prints a Python set."),
    Allowed("order-by-words", "*search: bad order_by", ("message",),
            "order_by is parsed by trainyard's parser: same status and code, other words."),
    Allowed("page-token-words", "*search: bad page token", ("message",),
            "A page token trainyard did not give is refused with MLflow's status and code; the message says so "
            "instead of MLflow's base64 error."),
    Allowed("sql-error-text", "*: to a taken name", ("message",),
            "MLflow appends SQLAlchemy's error, with the SQL statement, to 'already exists'; trainyard stops at "
            "the sentence."),
    Allowed("sql-error-text-create", "experiments/create: duplicate", ("message",),
            "MLflow appends SQLAlchemy's error, with the SQL statement, to 'already exists'; trainyard stops at "
            "the sentence."),
    Allowed("user-id-tag", "runs/*: with user_id", ("body",),
            "A run's user_id is kept as its mlflow.user tag (trainyard runs have no user field), so a run created "
            "with user_id and no such tag shows the tag; the fluent client sets both anyway."),
    Allowed("user-id-tag-client", "client calls: [cg]*_run*", ("result",),
            "A run's user_id is kept as its mlflow.user tag (trainyard runs have no user field), so a run created "
            "with user_id and no such tag shows the tag; the fluent client sets both anyway."),
    Allowed("infinity", "metrics/get-history: NaN and Infinity", ("body",),
            "±Infinity reads back as ±Infinity; MLflow's SQL store returns ±1.7976931348623157e+308 instead of "
            "the value logged."),
    Allowed("no-experiment-id", "runs/create: default experiment", ANY_ERROR,
            "MLflow fails (a foreign-key error) to create a run whose request names no experiment; trainyard "
            "creates it in the default experiment, as MLflow's API documents."),
    Allowed("long-values", "*value too long", ANY_ERROR,
            "MLflow truncates a param value over 6,000 characters or a tag value over 8,000 and answers 200 "
            "(MLFLOW_TRUNCATE_LONG_VALUES); trainyard refuses it with MLflow's limit error, so that what the API "
            "acknowledged reads back exactly as sent."),
    Allowed("partial-parse", "runs/log-*: [smv]*[eer]", ANY_ERROR,
            "A value of the wrong type (a step beyond 64 bits, a value that is not a number) makes MLflow's "
            "protobuf parser stop half-way, and MLflow stores what it had parsed (step 0, value 0) with 200; "
            "trainyard refuses the request with 400 naming the item, in MLflow's words for a bad metric."),
    Allowed("key-grammar", "*bad*[sy]", ANY_ERROR,
            "MLflow's key grammar (letters, digits, _ - . / : and space) is enforced on every key by the "
            "domain's key grammar, which the harden branch brings; until then trainyard accepts other characters."),
    Allowed("run-times", "runs/create: start_time in microseconds", ANY_ERROR,
            "trainyard refuses run times outside the years 1-9999 (typically microseconds sent as milliseconds), "
            "which MLflow stores and which break date rendering."),
    Allowed("no-start-time", "runs/create: no start_time", ("body",),
            "A run created without start_time starts now in trainyard; MLflow records 0 (1970)."),
    Allowed("default-experiment", "experiments/delete: the default experiment", ANY_ERROR,
            "MLflow 3.17 lets the default experiment be deleted; in trainyard it is the default project of every "
            "job that names none, and stays."),
    Allowed("invalid-state-status", "experiments/update: a deleted experiment", ("status",),
            "MLflow answers INVALID_STATE with 500, which its clients retry for minutes; trainyard answers 400 "
            "with the same code and message."),
    Allowed("html-errors", "[uw][nr]*", ("bytes",),
            "For a path or method no route serves, MLflow answers Flask's HTML error page; trainyard answers the "
            "same status with a JSON error."),
    Allowed("version", "version", ("bytes",), "/version answers trainyard's version, not MLflow's."),
    Allowed("server-info", "server-info", ("body",),
            "trainyard has no AI gateway and no presigned uploads, and says so."),
    Allowed("directory-download", "mlflow-artifacts GET: a directory", ("error_code", "message", "body"),
            "MLflow's FastAPI layer answers {\"detail\": ...} without an error code; trainyard answers the same "
            "status in MLflow's error shape."),
    Allowed("destination-layout", "mlflow-artifacts list: the top", ("body",),
            "Listing above the runs' roots: MLflow's destination holds a directory per experiment, trainyard keeps "
            "run files by run, so only files stored outside runs are listed there."),
    Allowed("model-version-artifact", "model-versions/get-artifact: a file", ("status", "bytes"),
            "MLflow's server fails (500) to serve a version's file when its tracking URI is a database; trainyard "
            "serves it."),
    Allowed("genai", "traces (out of scope)", ANY_ERROR,
            "Traces and the rest of MLflow's GenAI API are out of scope: trainyard answers 501 NOT_IMPLEMENTED."),
]

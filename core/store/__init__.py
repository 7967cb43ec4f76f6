"""The lab's database: evaluation results, and the prompts, completions and rankings people label for RLHF.

SQLAlchemy 2 over SQLite in WAL mode at ``$LAB_HOME/lab.db`` by default, so readers never wait for the writer and a
class can work at once; any SQLAlchemy URL in ``$LAB_DB_URL`` (PostgreSQL for a class server) is used instead.
Tables are created on first use, and columns added since are added to an older database. Every write is one
transaction: all there after the commit, or none of it.

``tables``: the tables. ``database``: the engine per URL, read and write sessions, bounded retries when the database is
busy (``StoreBusyError``), ``DiskFullError`` when it is full and ``StoreUnavailableError`` when its server is gone.
``evaluations``: save, list, load, delete evaluations.
``labels``: prompts, completions, comparisons, rankings (one per annotator, with comment and flags), annotator
names, overlap assignment and progress, batched imports.
"""

from core.store.database import (
    BUSY_TIMEOUT_MS,
    SYNCHRONOUS,
    WRITE_ATTEMPTS,
    StoreBusyError,
    StoreUnavailableError,
    _engines,
    database_url,
    engine,
    session,
    write_session,
    writes,
)
from core.store.evaluations import delete_evaluation, list_evaluations, load_evaluation, save_evaluation
from core.store.labels import (
    ANNOTATOR_MAX,
    COMMENT_MAX,
    FLAGS,
    IMPORT_BATCH,
    OVERLAP_MAX,
    add_comparison,
    add_prompts,
    annotator_progress,
    check_note,
    class_progress,
    get_comparison,
    import_rankings,
    label_counts,
    labelling_overlap,
    list_rankings,
    next_comparison,
    normalize_annotator,
    prompts_without_comparison,
    save_ranking,
    set_labelling_overlap,
)
from core.store.tables import Base, Comparison, Completion, EvalExample, Evaluation, Prompt, Ranking, text_hash

__all__ = [
    "ANNOTATOR_MAX", "BUSY_TIMEOUT_MS", "IMPORT_BATCH", "SYNCHRONOUS", "WRITE_ATTEMPTS", "Base", "Comparison", "Completion",
    "EvalExample", "Evaluation", "Prompt", "Ranking", "StoreBusyError", "StoreUnavailableError", "_engines", "add_comparison", "add_prompts",
    "database_url", "delete_evaluation", "engine", "get_comparison", "import_rankings", "label_counts", "list_evaluations",
    "list_rankings", "load_evaluation", "next_comparison", "normalize_annotator", "prompts_without_comparison",
    "save_evaluation", "save_ranking", "session", "text_hash", "write_session", "writes",
    "COMMENT_MAX", "FLAGS", "OVERLAP_MAX", "annotator_progress", "check_note", "class_progress", "labelling_overlap",
    "set_labelling_overlap",
]

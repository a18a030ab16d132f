"""CSV and bulk JSON imports of customers, orders, order items and behaviour events.

SPEC §1 "Ingestion" and §5 bulk ingest. The CSV commands, the upload page and the bulk API
share one path; only where rows come from differs:

    parse, validate   csv.reader (or the API's items), column by column in Python; each
                      bad row becomes a RowError naming its line (or item) and the problem,
                      and the good rows of the same batch go on (cells, layouts)
    stage             the batch's good rows go into a TEMP staging table typed like the
                      target columns, filled with one COPY (staging)
    resolve           references to unknown customers create placeholders, set-based
                      (crm.services.identities)
    upsert            one INSERT ... SELECT ... ON CONFLICT per target table; DO UPDATE only
                      WHERE (columns) IS DISTINCT FROM (EXCLUDED columns), so a re-import
                      adds 0 rows and rewrites 0 rows; events DO NOTHING on their natural key
                      (customers, orders, events)
    metrics           after the last batch, crm.services.metrics recomputes exactly the
                      customers whose rows were written (runs)

Each batch commits on its own, with its job progress, so a large file shows progress and a
failure loses at most the batch in flight (batches). Metrics are recomputed once at the
end: a customer's orders are spread over many batches, so per-batch recomputes would
repeat the work several times. If the process dies before that, the nightly
recompute_customer_metrics_task catches up.

File semantics, in the words the reports use:
- Only the columns in the header are written: a customers file without `city` leaves every
  customer's city as it was. A column that is present but blank clears the value (blank
  `status` means `paid`, blank `is_member` means false). `tags` lists the customer's tags:
  tags not listed are removed from the customer. `consent` lists the off-site channels the
  customer agreed to, replacing what was recorded (a code that is no off-site channel's
  refuses the row). `identities` only ever adds links.
- A row with several bad cells is reported once, for its first bad column.
- The same key twice in one batch (a customer id, an order id, an order id + sku): the last
  row wins and the earlier ones are refused with a reason saying so. A key repeated in a
  later batch updates what the earlier batch stored. Repeated events are one event.
- A customer whose personal data was erased keeps name, phone, e-mail and birth date blank
  and gets no identity back (crm.services.erasure).
- placed_at, occurred_at and registered_at must lie from 1970-01-01 to one day after the
  import's `now`, birth_date from 1900-01-01 to today (the operator's time zone); a text
  holding a NUL character is refused (PostgreSQL text cannot hold one). Such a row alone
  is refused, naming the field.

Modules:
    runs        import_csv_file, run_import_job, ingest_records: the services the commands,
                the upload task and the bulk API call
    uploads     start_csv_import: the files uploaded on the import page, kept through the
                storage API until their import ends
    reports     the refused rows' report: kept while importing, downloaded, erased
    results     ImportResult and RowError: what an import reports
    layouts     each kind's columns; a file's header as a Plan; reading rows and API items
    cells       the cell parsers behind the columns
    batches     one batch: prepared in a reader thread, stored in one transaction
    staging     TEMP staging tables, COPY and the upsert helper
    customers, orders, events
                the staging tables and upserts of each kind
"""

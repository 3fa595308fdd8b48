-- New entries of the messages' search index (GIN, fastupdate on) wait in a pending list until
-- it passes gin_pending_list_limit (4 MB by default); the insert that passes it then merges the
-- whole list into the index before it returns. With autovacuum off or behind, that insert is
-- an append: at ~1,200 appends/s every ~3.5 s one append took 170-350 ms (PostgreSQL's slow
-- log), a core busy with the merge for that long. With a 256 kB list the same work comes in
-- ~16x smaller pieces: in four alternating 8 s runs at c=64 the slowest append took 43, 74, 104
-- and 265 ms, against 299, 283, 347 and 153 ms with 4 MB; throughput the same
-- (docs/operations.md).
ALTER INDEX messages_content_tsv SET (gin_pending_list_limit = 256);

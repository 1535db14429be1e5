"""Projects and tasks: the model and its event log (`model`), due dates (`dates`), the chart
series computed from the log (`series`), and the messages built from them (`views`,
`dashboard`). Pure: nothing here does I/O."""

package migrate

import "database/sql"

// OpenSQLiteForTest opens a SQLite database to read its schema.
func OpenSQLiteForTest(path string) (*sql.DB, error) {
	return sql.Open("sqlite", "file:"+path+"?_pragma=query_only(ON)")
}

// SchemaForTest is the columns of every table migrate reads from SQLite
// and writes to PostgreSQL, the ones it leaves alone with their reasons
// included, and the tables it skips in each.
func SchemaForTest() (sqliteCols, pgCols map[string][]string, sqliteSkipped, pgSkipped []string) {
	sqliteCols, pgCols = map[string][]string{}, map[string][]string{}
	for _, t := range tables {
		if t.from == "" {
			for _, c := range append(append([]column{}, t.cols...), t.srcOnly...) {
				sqliteCols[t.name] = append(sqliteCols[t.name], c.name)
			}
			sqliteCols[t.name] = append(sqliteCols[t.name], t.ignored...)
		}
		pgCols[t.name] = append(t.dstCols(), t.defaults...)
	}
	for k := range sqliteOnly {
		sqliteSkipped = append(sqliteSkipped, k)
	}
	for k := range postgresOnly {
		pgSkipped = append(pgSkipped, k)
	}
	return
}

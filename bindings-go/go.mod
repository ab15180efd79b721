module shmlane.dev/shmlane

go 1.23

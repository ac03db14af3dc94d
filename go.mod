module github.com/winrepart/winrepart

go 1.25.0

require (
	github.com/diskfs/go-diskfs v1.9.4
	github.com/google/go-cmp v0.7.0
	github.com/google/uuid v1.6.0
	github.com/ulikunitz/xz v0.5.17
	golang.org/x/sys v0.43.0
)

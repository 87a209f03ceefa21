module github.com/cinder-multiattach/cinder.multiattach

go 1.26.0

require (
	github.com/godbus/dbus/v5 v5.2.4 // indirect
	github.com/gofrs/uuid/v5 v5.4.0 // indirect
	github.com/gophercloud/gophercloud/v2 v2.15.0 // indirect
	github.com/gophercloud/utils/v2 v2.0.0-20260626221802-4ae35253ac13 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.28.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)

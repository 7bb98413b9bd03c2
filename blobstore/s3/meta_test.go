package s3

import (
	"maps"
	"testing"
)

func TestMetadataNames(t *testing.T) {
	port := map[string]string{"blobvalet_owner": "alice", "blobvalet_event_sum": "x", "qqfilename": "a.txt", "my_param": "1"}
	stored := toS3Metadata(port)
	want := map[string]string{"blobvalet-owner": "alice", "blobvalet-event-sum": "x", "qqfilename": "a.txt", "my_param": "1"}
	if !maps.Equal(stored, want) {
		t.Errorf("toS3Metadata = %v, want %v", stored, want)
	}
	if back := fromS3Metadata(stored); !maps.Equal(back, port) {
		t.Errorf("fromS3Metadata(toS3Metadata(md)) = %v, want %v", back, port)
	}
	// Either spelling, in any case, reads as the port's: an uploader's
	// own blobvalet- name is dropped at promotion like a blobvalet_ one.
	got := fromS3Metadata(map[string]string{"Blobvalet-Owner": "mallory", "blobvalet_verified-at": "t"})
	if !maps.Equal(got, map[string]string{"blobvalet_owner": "mallory", "blobvalet_verified_at": "t"}) {
		t.Errorf("fromS3Metadata = %v", got)
	}
	if toS3Metadata(nil) != nil {
		t.Error("toS3Metadata(nil) is not nil")
	}
}

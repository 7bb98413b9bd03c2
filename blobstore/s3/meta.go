package s3

import "strings"

// blobvalet's own metadata names (package success's stamp, blobvalet_owner
// and the rest, and the lock's expiry) have underscores, which Azure
// requires of metadata names. S3 carries metadata as x-amz-meta-* headers,
// and a proxy may drop a header whose name has an underscore (nginx does by
// default: underscores_in_headers off), which would lose the stamp. So on
// S3 they are written with hyphens, x-amz-meta-blobvalet-owner, and read
// back in the port's spelling. An uploader's own metadata keeps its name.
const (
	portPrefix = "blobvalet_"
	s3Prefix   = "blobvalet-"
)

// toS3Metadata returns md with blobvalet's names spelt for S3.
func toS3Metadata(md map[string]string) map[string]string {
	if md == nil {
		return nil
	}
	out := make(map[string]string, len(md))
	for k, v := range md {
		if rest, ok := cutPrefixFold(k, portPrefix); ok {
			k = s3Prefix + strings.ReplaceAll(rest, "_", "-")
		}
		out[k] = v
	}
	return out
}

// fromS3Metadata returns S3's metadata with blobvalet's names, in either
// spelling, in the port's: an uploader who sets x-amz-meta-blobvalet-owner
// on a staging object sees it read as blobvalet_owner, which promotion
// drops as it drops every blobvalet_ name an uploader sends.
func fromS3Metadata(md map[string]string) map[string]string {
	out := make(map[string]string, len(md))
	for k, v := range md {
		if rest, ok := cutPrefixFold(k, s3Prefix); ok {
			k = portPrefix + strings.ToLower(strings.ReplaceAll(rest, "-", "_"))
		} else if rest, ok := cutPrefixFold(k, portPrefix); ok {
			k = portPrefix + strings.ToLower(strings.ReplaceAll(rest, "-", "_"))
		}
		out[k] = v
	}
	return out
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

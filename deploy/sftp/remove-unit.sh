#!/usr/bin/env bash
# Remove one unit's SFTP access (the reverse of add-unit.sh); the unit's data stays.
#
#   remove-unit.sh <单位账号>
#
# Unmounts and removes the chroot (bind layout) and its /etc/fstab lines, deletes the account,
# its group and its authorised key. $GJJ_HOME/inbox/<单位账号>/ and outbox/<单位账号>/ are left as
# they are: nothing the centre received or sent is ever deleted. The same GJJ_SFTP_* settings
# as for add-unit.sh apply.
set -euo pipefail

die() {
  echo "remove-unit.sh: $*" >&2
  exit 1
}

[[ $# -eq 1 ]] || die "usage: remove-unit.sh <单位账号>"
unit=$1
sftp_root=${GJJ_SFTP_ROOT:-/srv/gjj-sftp}
prefix=${GJJ_SFTP_USER_PREFIX:-u}
keys_dir=${GJJ_SFTP_KEYS_DIR:-/etc/ssh/gjj-authorized-keys}
fstab=${GJJ_SFTP_FSTAB-/etc/fstab}

[[ $(id -u) -eq 0 ]] || die "must run as root"
[[ $unit =~ ^[0-9A-Za-z]{1,24}$ ]] || die "bad 单位账号: '$unit'"
user="${prefix}${unit}"
chroot_dir="$sftp_root/$unit"

# No new logins from here on.
rm -f -- "$keys_dir/$user"

# The bind layout's chroot: unmount (read-only outbox first), then remove the empty mount points.
for mount_point in "$chroot_dir/outbox" "$chroot_dir/inbox"; do
  if mountpoint -q -- "$mount_point"; then
    # A session still open keeps the mount busy: end it (pkill -u "$user") and run this again.
    umount -- "$mount_point" || die "cannot unmount $mount_point: is $user still connected?"
  fi
done
if [[ -n $fstab && -f $fstab ]]; then
  kept=$(mktemp)
  trap 'rm -f -- "$kept"' EXIT
  awk -v inbox="$chroot_dir/inbox" -v outbox="$chroot_dir/outbox" \
    '$1 ~ /^#/ || ($2 != inbox && $2 != outbox)' "$fstab" >"$kept"
  # Rewrite in place (keeps the file's owner and mode) only when something changed.
  cmp -s -- "$kept" "$fstab" || cat -- "$kept" >"$fstab"
fi
if [[ -d $chroot_dir ]]; then
  # rmdir, never rm -r: if a mount is still there this fails instead of deleting the unit's files.
  rmdir -- "$chroot_dir/inbox" "$chroot_dir/outbox" 2>/dev/null || true
  rmdir -- "$chroot_dir" || die "$chroot_dir is not empty; left in place"
fi

if id -u "$user" >/dev/null 2>&1; then
  userdel "$user"
fi
if getent group "$user" >/dev/null; then
  groupdel "$user"
fi
echo "unit $unit: SFTP account $user removed; its inbox and outbox folders were kept"

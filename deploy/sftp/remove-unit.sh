#!/usr/bin/env bash
# Remove one unit's SFTP access (the reverse of add-unit.sh); the unit's data stays.
#
#   remove-unit.sh <单位账号> [GJJ_HOME]
#
# Removes the authorised key, ends every open session of the account, unmounts and removes the
# chroot (bind layout) and its /etc/fstab lines, deletes the account and its group.
# $GJJ_HOME/inbox/<单位账号>/ and outbox/<单位账号>/ (and archive/, quarantine/ <单位账号>/) are kept
# — nothing the centre received or sent is ever deleted — but re-owned to the service user and its
# group: the removed account's numeric user and group ids are free again, and the next account
# created (by add-unit.sh, for another unit) may get them; it must find nothing of this unit's.
#
# GJJ_HOME: the second argument, else $GJJ_HOME, else (home layout) the account's home directory,
# which is GJJ_HOME itself. In the bind layout without it the folders are out of every chroot once
# unmounted, but keep the old ids: give GJJ_HOME. The service user: $GJJ_SERVICE_USER, else the
# owner of outbox/<单位账号>/ (add-unit.sh made it so). The same GJJ_SFTP_* settings as for
# add-unit.sh apply.
set -euo pipefail

die() {
  echo "remove-unit.sh: $*" >&2
  exit 1
}

[[ $# -ge 1 && $# -le 2 ]] || die "usage: remove-unit.sh <单位账号> [GJJ_HOME]"
unit=$1
home_arg=${2:-${GJJ_HOME:-}}
sftp_root=${GJJ_SFTP_ROOT:-/srv/gjj-sftp}
prefix=${GJJ_SFTP_USER_PREFIX:-u}
keys_dir=${GJJ_SFTP_KEYS_DIR:-/etc/ssh/gjj-authorized-keys}
fstab=${GJJ_SFTP_FSTAB-/etc/fstab}

[[ $(id -u) -eq 0 ]] || die "must run as root"
[[ $unit =~ ^[0-9A-Za-z]{1,24}$ ]] || die "bad 单位账号: '$unit'"
user="${prefix}${unit}"
chroot_dir="$sftp_root/$unit"
uid=$(id -u -- "$user" 2>/dev/null || true)

if [[ -z $home_arg && -n $uid ]]; then
  account_home=$(getent passwd "$user" | cut -d: -f6)
  # Home layout: the account's home (its chroot) is GJJ_HOME itself. (In the bind layout it is the
  # chroot, whose inbox/ is the unit's own: what the unit made there proves nothing.)
  if [[ $account_home != "$chroot_dir" && -d $account_home/inbox/$unit && -d $account_home/outbox/$unit ]]; then
    home_arg=$account_home
  fi
fi
home=""
if [[ -n $home_arg ]]; then
  home=$(realpath -e -- "$home_arg") || die "GJJ_HOME $home_arg does not exist"
fi

# No new logins from here on.
rm -f -- "$keys_dir/$user"

# End the sessions still open: each runs internal-sftp in a process of the account (sshd's
# privileged monitor, root's, goes with it). Otherwise a unit removed keeps its session, and
# with it its view of the folders, until it logs out.
if [[ -n $uid ]]; then
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    pkill -KILL -u "$uid" 2>/dev/null || break
    sleep 0.2
  done
  ! pgrep -u "$uid" >/dev/null || die "cannot end the processes of $user: $(pgrep -u "$uid" | tr '\n' ' ')"
fi

# The bind layout's chroot: unmount (read-only outbox first), then remove the empty mount points.
for mount_point in "$chroot_dir/outbox" "$chroot_dir/inbox"; do
  if mountpoint -q -- "$mount_point"; then
    umount -- "$mount_point" || die "cannot unmount $mount_point"
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

# The kept folders: the service user's and its group's, closed to everyone else.
if [[ -n $home ]]; then
  service_user=${GJJ_SERVICE_USER:-}
  if [[ -z $service_user && -d $home/outbox/$unit ]]; then
    service_user=$(stat -c %U -- "$home/outbox/$unit")
  fi
  service_user=${service_user:-root}
  [[ $service_user != "$user" && $service_user != UNKNOWN ]] || service_user=root
  id -u -- "$service_user" >/dev/null 2>&1 || die "service user $service_user does not exist"
  service_group=$(id -gn -- "$service_user")
  for folder in "$home/inbox/$unit" "$home/outbox/$unit" "$home/archive/$unit" "$home/quarantine/$unit"; do
    [[ -d $folder && ! -L $folder ]] || continue
    find "$folder" \( ! -user "$service_user" -o ! -group "$service_group" \) -exec chown -h -- "$service_user:$service_group" {} +
    chmod -R -- o-rwx "$folder"
  done
else
  echo "remove-unit.sh: GJJ_HOME not given: $unit's folders keep their owner and group ids; run again with GJJ_HOME as 2nd argument" >&2
fi

if [[ -n $uid ]]; then
  userdel "$user"
fi
if getent group "$user" >/dev/null; then
  groupdel "$user"
fi
echo "unit $unit: SFTP account $user removed; its inbox and outbox folders were kept${home:+ (now owned by $service_user:$service_group)}"

"""glance-ha: a highly available OpenStack Image service on Pacemaker/Corosync."""

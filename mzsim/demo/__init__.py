"""`mzsim demo`: global + zones + meshes on one machine, with a live summary."""

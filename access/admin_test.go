package access

import (
	"testing"

	"github.com/trainyard/trainyard"
)

func TestAdministration(t *testing.T) {
	r := newRig(t, "")
	rootAdded := r.addUser(NewUser{Name: "root", Admin: true})
	root, err := r.s.Authenticate(ctx, Credentials{Bearer: rootAdded.Secret})
	if err != nil {
		t.Fatal(err)
	}
	r.addUser(NewUser{Name: "alice", Roles: map[string]trainyard.Role{"p": trainyard.RoleMember}})
	r.addUser(NewUser{Name: "adam", Roles: map[string]trainyard.Role{"p": trainyard.RoleAdmin}})
	alice := &trainyard.Identity{User: "alice", Roles: map[string]trainyard.Role{"p": trainyard.RoleMember}, Via: "api"}
	adam := &trainyard.Identity{User: "adam", Roles: map[string]trainyard.Role{"p": trainyard.RoleAdmin}, Via: "api"}

	t.Run("only server admins add, list and remove users", func(t *testing.T) {
		for _, id := range []*trainyard.Identity{alice, adam} {
			_, err := r.s.AddUser(as(id), NewUser{Name: "eve", Admin: true})
			wantCode(t, err, trainyard.EFORBIDDEN, "server admin")
			_, err = r.s.Users(as(id))
			wantCode(t, err, trainyard.EFORBIDDEN)
			wantCode(t, r.s.DeleteUser(as(id), "root"), trainyard.EFORBIDDEN)
		}
		_, err := r.s.AddUser(as(root), NewUser{Name: "bad name", Password: "short", Roles: map[string]trainyard.Role{"p": "owner"}})
		wantCode(t, err, trainyard.EINVALID, "name", "password", "roles")
	})

	t.Run("project admins give roles in their project only", func(t *testing.T) {
		u, err := r.s.SetRoles(as(adam), "alice", map[string]trainyard.Role{"p": trainyard.RoleAdmin}, nil)
		if err != nil || u.Roles["p"] != trainyard.RoleAdmin {
			t.Fatalf("%+v, %v", u, err)
		}
		_, err = r.s.SetRoles(as(adam), "alice", map[string]trainyard.Role{"q": trainyard.RoleAdmin}, nil)
		wantCode(t, err, trainyard.EFORBIDDEN, "admin role in project q")
		_, err = r.s.SetRoles(as(adam), "alice", map[string]trainyard.Role{trainyard.AllProjects: trainyard.RoleViewer}, nil)
		wantCode(t, err, trainyard.EFORBIDDEN, "server admin")
		yes := true
		_, err = r.s.SetRoles(as(adam), "alice", nil, &yes)
		wantCode(t, err, trainyard.EFORBIDDEN, "server admin")
		if _, err := r.s.SetRoles(as(root), "alice", map[string]trainyard.Role{"p": trainyard.RoleMember}, nil); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("the last server admin stays", func(t *testing.T) {
		wantCode(t, r.s.DeleteUser(as(root), "root"), trainyard.ECONFLICT, "last server admin")
		no := false
		_, err := r.s.SetRoles(as(root), "root", nil, &no)
		wantCode(t, err, trainyard.ECONFLICT, "last server admin")
	})

	t.Run("tokens: one's own within one's limits, anyone's for server admins", func(t *testing.T) {
		secret, tk, err := r.s.CreateToken(as(alice), TokenRequest{Name: "laptop"})
		if err != nil || tk.User != "alice" || tk.CreatedBy != "alice" || secret == "" {
			t.Fatalf("%+v, %v", tk, err)
		}
		_, _, err = r.s.CreateToken(as(alice), TokenRequest{User: "adam"})
		wantCode(t, err, trainyard.EFORBIDDEN, "make tokens for user adam")
		viewerTok := &trainyard.Identity{User: "alice", Roles: alice.Roles, MaxRole: trainyard.RoleViewer, Via: "api"}
		_, _, err = r.s.CreateToken(as(viewerTok), TokenRequest{Role: trainyard.RoleMember})
		wantCode(t, err, trainyard.EFORBIDDEN, "limited to the viewer role")
		_, _, err = r.s.CreateToken(as(viewerTok), TokenRequest{})
		wantCode(t, err, trainyard.EFORBIDDEN)
		if _, _, err := r.s.CreateToken(as(viewerTok), TokenRequest{Role: trainyard.RoleViewer}); err != nil {
			t.Fatal(err)
		}
		projTok := &trainyard.Identity{User: "alice", Roles: alice.Roles, Project: "p", Via: "api"}
		_, _, err = r.s.CreateToken(as(projTok), TokenRequest{})
		wantCode(t, err, trainyard.EFORBIDDEN, "limited to project p")
		job := &trainyard.Identity{User: "alice", Roles: alice.Roles, RunID: "j1", Via: "job"}
		_, _, err = r.s.CreateToken(as(job), TokenRequest{})
		wantCode(t, err, trainyard.EFORBIDDEN, "a job's token makes none")
		if _, _, err := r.s.CreateToken(as(root), TokenRequest{User: "adam"}); err != nil {
			t.Fatal(err)
		}

		mine, err := r.s.Tokens(as(alice), "", false)
		if err != nil || len(mine) != 2 {
			t.Fatalf("alice's tokens: %d, %v", len(mine), err)
		}
		_, err = r.s.Tokens(as(alice), "adam", false)
		wantCode(t, err, trainyard.EFORBIDDEN)
		adams, _ := r.s.Tokens(as(root), "adam", false)
		_, err = r.s.RevokeToken(as(alice), adams[0].ID)
		wantCode(t, err, trainyard.EFORBIDDEN, "revoke the tokens of user adam")
		if _, err := r.s.RevokeToken(as(alice), mine[0].ID); err != nil {
			t.Fatal(err)
		}
		if _, err := r.s.RevokeToken(as(root), adams[0].ID); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("the audit log: all of it for server admins, a project's for its admins", func(t *testing.T) {
		r.s.record(as(alice), "job.submit", "job/j1", "p", "")
		r.s.record(as(alice), "job.submit", "job/j2", "q", "")
		all, err := r.s.Audit(as(root), trainyard.AuditFilter{})
		if err != nil || len(all) < 10 {
			t.Fatalf("server admin: %d entries, %v", len(all), err)
		}
		ps, err := r.s.Audit(as(adam), trainyard.AuditFilter{})
		if err != nil || len(ps) == 0 {
			t.Fatalf("project admin: %v, %v", ps, err)
		}
		for _, e := range ps {
			if e.Project != "p" {
				t.Errorf("adam sees an entry of project %q: %+v", e.Project, e)
			}
		}
		_, err = r.s.Audit(as(adam), trainyard.AuditFilter{Project: "q"})
		wantCode(t, err, trainyard.EFORBIDDEN, "admin role in project q")
		_, err = r.s.Audit(as(alice), trainyard.AuditFilter{})
		wantCode(t, err, trainyard.EFORBIDDEN, "server admin")
		// Who did it is recorded.
		last, _ := r.s.Audit(as(root), trainyard.AuditFilter{Action: "token.revoke", Limit: 1})
		if len(last) != 1 || last[0].Actor != "root" || last[0].Target != "user/adam" {
			t.Fatalf("last revocation: %+v", last)
		}
	})
}
